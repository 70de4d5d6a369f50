//! Packaging: the CMake build installs the library, headers, tools, CMake package and
//! pkg-config file into a fresh prefix; the C suite builds against it with
//! find_package and passes under CTest; C, C++ and static consumers build through
//! find_package, a C consumer through pkg-config, and the shared consumers load the
//! library by its soname.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd` without cargo's LD_LIBRARY_PATH (which holds target/release, where an
/// older libcouchstore.so may be): programs find the library by their rpath, or by an
/// LD_LIBRARY_PATH the caller sets after this.
fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove("LD_LIBRARY_PATH");
    cmd
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?} could not start ({e}); is it installed? .ci/run installs it")
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn cmake_build(src: &Path, build: &Path, args: &[String]) {
    run(command("cmake")
        .arg("-S")
        .arg(src)
        .arg("-B")
        .arg(build)
        .args(args));
    run(command("cmake").arg("--build").arg(build).arg("-j2"));
}

#[test]
fn install_find_package_ctest_pkg_config() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    // Reuse the C suite's cargo target directory: the library is built once.
    cmake_build(
        &root(),
        &tmp.path().join("build"),
        &[format!(
            "-DCOUCHSTORE_CARGO_TARGET_DIR={}",
            root().join("target/capi").display()
        )],
    );
    run(command("cmake")
        .arg("--install")
        .arg(tmp.path().join("build"))
        .arg("--prefix")
        .arg(&prefix));
    for f in [
        "lib/libcouchstore.so",
        "lib/libcouchstore.a",
        "include/libcouchstore/couch_db.h",
        "include/libcouchstore/couch_common.h",
        "include/libcouchstore/error.h",
        "include/libcouchstore/file_ops.h",
        "include/libcouchstore/couch_latency.h",
        "include/libcouchstore/visibility.h",
        "include/libcouchstore/couch_db_cxx.h",
        "include/libcouchstore/couchstore.hpp",
        "bin/couch_dbinfo",
        "bin/couch_dbdump",
        "bin/couch_compact",
        "lib/cmake/couchstore/couchstoreConfig.cmake",
        "lib/cmake/couchstore/couchstoreConfigVersion.cmake",
        "lib/pkgconfig/couchstore.pc",
    ] {
        assert!(prefix.join(f).exists(), "{f} not installed");
    }
    let prefix_arg = format!("-DCMAKE_PREFIX_PATH={}", prefix.display());

    // The C conformance suite through find_package + CTest.
    let golden = root().join("../shared/golden");
    let tests = tmp.path().join("tests");
    cmake_build(
        &root().join("capi-tests"),
        &tests,
        &[
            prefix_arg.clone(),
            format!("-DCOUCHSTORE_GOLDEN_DIR={}", golden.display()),
        ],
    );
    let ctest = run(command("ctest")
        .arg("--test-dir")
        .arg(&tests)
        .arg("--output-on-failure"));
    print!("{ctest}");
    let suites = std::fs::read_dir(root().join("capi-tests"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("test_")
        })
        .count();
    assert!(
        ctest.contains(&format!(
            "100% tests passed, 0 tests failed out of {suites}"
        )),
        "{ctest}"
    );

    // Consumers through find_package: shared (C, C++) and static.
    let consumer = tmp.path().join("consumer");
    cmake_build(
        &root().join("capi-tests/consumer"),
        &consumer,
        &[prefix_arg],
    );
    for exe in ["consumer_c", "consumer_cxx", "consumer_static"] {
        run(command(consumer.join(exe)).arg(tmp.path().join(format!("{exe}.couch"))));
    }
    // The shared consumer needs libcouchstore.so by its soname.
    let dynamic = run(command("readelf")
        .arg("-d")
        .arg(consumer.join("consumer_c")));
    assert!(
        dynamic.contains("Shared library: [libcouchstore.so]"),
        "{dynamic}"
    );
    let dynamic = run(command("readelf")
        .arg("-d")
        .arg(consumer.join("consumer_static")));
    assert!(
        !dynamic.contains("libcouchstore"),
        "the static consumer must not need the .so"
    );

    // A consumer through pkg-config, run with the library found by soname through the
    // loader's search path (no rpath).
    let pc = run(command("pkg-config")
        .args(["--cflags", "--libs", "couchstore"])
        .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")));
    let exe = tmp.path().join("pkgconfig_consumer");
    run(command("cc")
        .arg(root().join("capi-tests/consumer/consumer.c"))
        .arg("-o")
        .arg(&exe)
        .args(pc.split_whitespace()));
    let out = run(command(&exe)
        .arg(tmp.path().join("pc.couch"))
        .env("LD_LIBRARY_PATH", prefix.join("lib")));
    assert!(out.contains("consumer ok"));
    // Without the library on the search path it does not start: it really loads ours.
    let missing = command(&exe)
        .arg(tmp.path().join("pc2.couch"))
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

/// The system libraries a static consumer links (cmake/native-static-libs.txt, used by
/// both the CMake package and the pkg-config file) are what rustc says they are.
#[test]
fn native_static_libs_match_what_rustc_reports() {
    let out = command(env!("CARGO"))
        .args(["rustc", "--release", "--lib", "--crate-type", "staticlib"])
        .arg("--target-dir")
        .arg(root().join("target/native-static-libs"))
        .args(["--", "--print", "native-static-libs"])
        .current_dir(root())
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let reported = stderr
        .lines()
        .find_map(|l| l.split("native-static-libs: ").nth(1))
        .expect("rustc prints the list");
    let checked_in = std::fs::read_to_string(root().join("cmake/native-static-libs.txt")).unwrap();
    assert_eq!(
        checked_in.trim(),
        reported.trim(),
        "update cmake/native-static-libs.txt"
    );
}
