//! Builds the C++ half of the ABI (`src/cxx/shim.cc`) into the library, and links the
//! shared library as the original builds it: soname `libcouchstore.so` (unversioned),
//! exporting exactly the public API through a linker version script.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo");
    println!("cargo:rerun-if-changed=src/cxx/shim.cc");
    println!("cargo:rerun-if-changed=include/libcouchstore");
    println!("cargo:rerun-if-changed=src/capi/libcouchstore.map");
    // The shim's exported functions are called by no Rust code, so the whole archive is
    // linked in; its own symbols stay hidden unless the headers mark them exported.
    cc::Build::new()
        .cpp(true)
        .file("src/cxx/shim.cc")
        .include(format!("{dir}/include"))
        .std("c++17")
        .flag("-fvisibility=hidden")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .link_lib_modifier("+whole-archive")
        .compile("couchstore_cxx");
    // The C conformance tests compile C with the `cc` crate, which needs the target.
    let target = std::env::var("TARGET").expect("set by cargo");
    println!("cargo:rustc-env=COUCHSTORE_BUILD_TARGET={target}");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let map = format!("{dir}/src/capi/libcouchstore.map");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcouchstore.so");
        println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={map}");
    }
}
