/* Compatibility header: the original split its API over couch_db.h, couch_common.h and
   error.h; here everything is in couch_db.h. */
#include "couch_db.h"
