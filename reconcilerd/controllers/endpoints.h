/* endpoints — the Endpoints controller: for every Service with a selector, an Endpoints
 * object of the same name listing the pods the selector matches that have an IP: ready
 * ones under addresses, the others under notReadyAddresses (all under addresses with
 * publishNotReadyAddresses), with the Service's ports, targetPort resolved per pod (a
 * number, or a named container port). Pods being deleted or finished are left out.
 * Addresses sharing the same resolved ports share a subset. Services without a selector
 * are left alone (their Endpoints are the user's); a deleted Service's Endpoints go too.
 *
 * ctrl_endpoints_subsets is pure, for tests. */
#ifndef BOSUN_CTRL_ENDPOINTS_H
#define BOSUN_CTRL_ENDPOINTS_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/err.h"
#include "reconcilerd/controllers/common.h"
#include "reconcilerd/controllers/workqueue.h"

struct ctrl_endpoints;

int ctrl_endpoints_new(struct ctrl_ctx *ctx, struct ctrl_endpoints **out, struct bosun_err *err);
void ctrl_endpoints_free(struct ctrl_endpoints *ec);
struct ctrl_wq *ctrl_endpoints_queue(struct ctrl_endpoints *ec);
/* Informer handlers (userdata = the controller). Service and Endpoints events queue the
 * Service's key; pod events queue every Service of the namespace that selects the pod. */
void ctrl_endpoints_on_service(const json_t *obj, void *userdata);
void ctrl_endpoints_on_pod(const json_t *old_obj, const json_t *new_obj, void *userdata);

/* ---- pure logic ---- */

/* True when every key=value of the Service selector map is among labels. An empty or
 * missing selector matches nothing (such Services are not managed). */
bool ctrl_endpoints_selects(const json_t *selector, const json_t *labels);

/* The subsets for svc from pods (any namespace; filtered here). Addresses are ordered by
 * IP, subsets by their first address, so equal inputs give equal output. New array. */
json_t *ctrl_endpoints_subsets(const json_t *svc, const json_t *pods);

#endif
