/* status — Kubernetes `Status` objects: the body of every failed API request.
 *
 * kubectl prints `Error from server (<reason>): <message>`, so reason, code and message
 * follow kube-apiserver (k8s-api-subset.md §5.3). */
#ifndef BOSUN_API_STATUS_H
#define BOSUN_API_STATUS_H

#include <jansson.h>

#include "lib/httpd.h"

/* The reason Kubernetes pairs with an HTTP code ("NotFound" for 404, ...). */
const char *api_status_reason(int code);

/* A new Status (owned by the caller): {"kind":"Status","apiVersion":"v1","metadata":{},
 * "status":"Failure","message":...,"reason":...,"code":...}. reason NULL = derived from
 * code. */
json_t *api_status_new(int code, const char *reason, const char *message);

/* Adds details {name, group, kind} (any may be NULL) to st (borrowed). Returns st. */
json_t *api_status_details(json_t *st, const char *name, const char *group, const char *kind);

/* Answers req with st (stolen) as JSON, the HTTP status taken from st's "code". */
void api_respond_status_obj(struct httpd_req *req, json_t *st);

/* Answers req with a Status of code/reason and the formatted message. */
void api_respond_status(struct httpd_req *req, int code, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 404 "the server could not find the requested resource". */
void api_respond_not_found_path(struct httpd_req *req);

#endif
