/* discovery — what clients learn about the API before using it: /version, /api, /apis
 * (aggregated discovery when the Accept header asks for it, legacy otherwise),
 * /api/v1 and /apis/{g}/{v} resource lists, /apis/{g}, and the OpenAPI v3 stubs that
 * tell kubectl the server validates fields itself (k8s-api-subset.md §2, §3).
 *
 * Everything is built from schema_kinds(); each function answers req. */
#ifndef BOSUN_API_DISCOVERY_H
#define BOSUN_API_DISCOVERY_H

#include <stdbool.h>

#include "lib/httpd.h"

/* The aggregated-discovery media type kubectl recognises. */
#define API_DISCOVERY_V2_TYPE "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

void api_discovery_version(struct httpd_req *req);
/* /api (core=true) or /apis. */
void api_discovery_root(struct httpd_req *req, bool core);
/* /apis/{group}; 404 when the group is not served. */
void api_discovery_group(struct httpd_req *req, const char *group);
/* /api/v1 or /apis/{g}/{v}; 404 when not served. */
void api_discovery_group_version(struct httpd_req *req, const char *group, const char *version);
/* /openapi/v3 and /openapi/v3/<api/v1|apis/g/v>; rest is the part after "/openapi/v3"
 * ("" or "/api/v1"...). */
void api_discovery_openapi_v3(struct httpd_req *req, const char *rest);

#endif
