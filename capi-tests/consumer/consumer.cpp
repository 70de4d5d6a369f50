// The same from C++ through the convenience header.
#include <libcouchstore/couchstore.hpp>
#include <cstdio>
#include <unistd.h>

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "consumer_cxx.couch";
    unlink(path.c_str());
    auto [status, db] = couchstore::openDatabase(path, COUCHSTORE_OPEN_FLAG_CREATE);
    if (status != COUCHSTORE_SUCCESS) return 1;
    auto [hs, header] = couchstore::getHeader(*db);
    if (hs != COUCHSTORE_SUCCESS || header.version != 13) return 2;
    std::printf("consumer_cxx ok\n");
    return 0;
}
