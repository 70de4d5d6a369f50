// The same from C++, through the original's C++ API.
#include <libcouchstore/couch_db.h>
#include <cstdio>
#include <unistd.h>

int main(int argc, char** argv) {
    const std::string path = argc > 1 ? argv[1] : "consumer_cxx.couch";
    unlink(path.c_str());
    auto [status, db] = cb::couchstore::openDatabase(path, COUCHSTORE_OPEN_FLAG_CREATE);
    if (status != COUCHSTORE_SUCCESS) return 1;
    const auto header = cb::couchstore::getHeader(*db);
    if (header.version != cb::couchstore::Header::Version::V13) return 2;
    std::printf("consumer_cxx ok\n");
    return 0;
}
