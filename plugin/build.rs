fn main() {
    // Keep the plugin mapped after a host dlclose()s it. Rust registers thread-local destructors
    // in the library; if it were unmapped while a host thread that touched Lull is still alive,
    // that thread would crash on exit (rust-lang/rust#91979). Plugin scanners hit this.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}
