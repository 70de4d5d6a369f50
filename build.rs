//! Links the shared library as the original builds it: soname `libcouchstore.so`
//! (unversioned), exporting only the C API through a linker version script.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    let map = format!("{dir}/src/capi/libcouchstore.map");
    println!("cargo:rerun-if-changed=src/capi/libcouchstore.map");
    // The C conformance tests compile C with the `cc` crate, which needs the target.
    let target = std::env::var("TARGET").expect("set by cargo");
    println!("cargo:rustc-env=COUCHSTORE_BUILD_TARGET={target}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcouchstore.so");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={map}");
    }
}
