#include "reconcilerd/api/status.h"

#include "lib/jsonx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *api_status_reason(int code)
{
    switch (code) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return code >= 500 ? "InternalError" : "BadRequest";
    }
}

json_t *api_status_new(int code, const char *reason, const char *message)
{
    /* The message often quotes what the client sent: keep it serialisable whatever it is. */
    return json_pack("{s:s, s:s, s:{}, s:s, s:o, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                     "metadata", "status", code < 400 ? "Success" : "Failure", "message",
                     jsonx_string_lossy(message ? message : ""), "reason",
                     reason ? reason : api_status_reason(code), "code", code);
}

json_t *api_status_details(json_t *st, const char *name, const char *group, const char *kind)
{
    if (!st)
        return NULL;
    json_t *d = json_object_get(st, "details");
    if (!d) {
        d = json_object();
        json_object_set_new(st, "details", d);
    }
    if (name)
        json_object_set_new(d, "name", json_string(name));
    if (group && *group)
        json_object_set_new(d, "group", json_string(group));
    if (kind)
        json_object_set_new(d, "kind", json_string(kind));
    return st;
}

void api_respond_status_obj(struct httpd_req *req, json_t *st)
{
    if (!st) {
        httpd_respond(req, 500, "text/plain", "out of memory\n", 14);
        return;
    }
    int code = (int)json_integer_value(json_object_get(st, "code"));
    httpd_respond_json(req, code ? code : 500, st);
    json_decref(st);
}

void api_respond_status(struct httpd_req *req, int code, const char *reason, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    api_respond_status_obj(req, api_status_new(code, reason, msg));
}

void api_respond_not_found_path(struct httpd_req *req)
{
    json_t *st = api_status_new(404, "NotFound", "the server could not find the requested resource");
    api_status_details(st, NULL, NULL, NULL);
    api_respond_status_obj(req, st);
}
