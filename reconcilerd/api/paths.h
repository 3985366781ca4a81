/* paths — parsing the API's URL paths (pure; no registry lookups).
 *
 *   /api                              API_PATH_CORE_ROOT
 *   /api/v1                           API_PATH_GROUP_VERSION (group "")
 *   /apis                             API_PATH_APIS_ROOT
 *   /apis/{g}                         API_PATH_GROUP
 *   /apis/{g}/{v}                     API_PATH_GROUP_VERSION
 *   {gv}/{res}[/{name}[/{sub}]]       API_PATH_RESOURCE (cluster-scoped or cluster-wide)
 *   {gv}/namespaces/{ns}/{res}[/{name}[/{sub}]]   API_PATH_RESOURCE with ns set
 *
 * `namespaces/{ns}/status` and `namespaces/{ns}/finalize` are the Namespace's own
 * subresources. Every segment must be non-empty, not "." or "..", without '/', '%', or
 * control characters, and at most 253 bytes — so a decoded `..%2Fetc` never reaches
 * the store (it is a 400), and an unknown shape is a 404. */
#ifndef BOSUN_API_PATHS_H
#define BOSUN_API_PATHS_H

#include <stdbool.h>

#include "lib/err.h"

enum api_path_type {
    API_PATH_CORE_ROOT,
    API_PATH_APIS_ROOT,
    API_PATH_GROUP,
    API_PATH_GROUP_VERSION,
    API_PATH_RESOURCE,
};

#define API_SEG_MAX 254

struct api_path {
    enum api_path_type type;
    char group[API_SEG_MAX];    /* "" for the core group */
    char version[API_SEG_MAX];
    char resource[API_SEG_MAX];
    char ns[API_SEG_MAX];       /* "" when the path has no namespaces/{ns}/ part */
    char name[API_SEG_MAX];     /* "" for collections */
    char sub[API_SEG_MAX];      /* "" or "status", "scale", "log", "binding" */
};

/* Parses a percent-decoded path (no query). Returns 0 and fills *out; -ENOENT when the
 * path is not an API path (answer 404); -EINVAL for an invalid segment (answer 400), with
 * err saying which. */
int api_path_parse(const char *path, struct api_path *out, struct bosun_err *err);

/* 1 when s is usable as a name or namespace segment (see above). */
bool api_path_segment_ok(const char *s);

#endif
