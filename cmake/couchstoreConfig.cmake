# find_package(couchstore) support: imported targets for the installed libcouchstore.
#   couchstore::couchstore         the shared library (soname libcouchstore.so)
#   couchstore::couchstore_static  the static library, with its system dependencies
# Relocatable: paths are computed from this file's location (<prefix>/lib/cmake/couchstore).
get_filename_component(_couchstore_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT TARGET couchstore::couchstore)
  add_library(couchstore::couchstore SHARED IMPORTED)
  set_target_properties(couchstore::couchstore PROPERTIES
    IMPORTED_LOCATION "${_couchstore_prefix}/lib/libcouchstore.so"
    IMPORTED_SONAME "libcouchstore.so"
    INTERFACE_INCLUDE_DIRECTORIES "${_couchstore_prefix}/include")
endif()

if(NOT TARGET couchstore::couchstore_static)
  include(CMakeFindDependencyMacro)
  set(THREADS_PREFER_PTHREAD_FLAG ON)
  find_dependency(Threads)
  add_library(couchstore::couchstore_static STATIC IMPORTED)
  set_target_properties(couchstore::couchstore_static PROPERTIES
    IMPORTED_LOCATION "${_couchstore_prefix}/lib/libcouchstore.a"
    INTERFACE_INCLUDE_DIRECTORIES "${_couchstore_prefix}/include"
    # What the Rust standard library and the C++ shim need from the system.
    INTERFACE_LINK_LIBRARIES "Threads::Threads;stdc++;gcc_s;util;rt;m;dl")
endif()

set(couchstore_INCLUDE_DIRS "${_couchstore_prefix}/include")
set(couchstore_LIBRARIES couchstore::couchstore)
unset(_couchstore_prefix)
