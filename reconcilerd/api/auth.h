/* auth — bearer-token authentication from reconcilerd's --token-auth-file.
 *
 * The file is Kubernetes' static token format, one user per line:
 *     token,user,uid,"group1,group2"
 * (the groups column is optional; blank lines and lines starting with '#' are skipped).
 * In this issue every authenticated user may do everything; authorization (groups →
 * verbs) comes with the API issue and will read struct api_user's groups. */
#ifndef BOSUN_API_AUTH_H
#define BOSUN_API_AUTH_H

#include <stddef.h>

#include "lib/err.h"

#define API_AUTH_MAX_GROUPS 8

struct api_user {
    char *token;
    char *name;
    char *uid;
    char *groups[API_AUTH_MAX_GROUPS]; /* NULL-terminated when fewer */
    size_t ngroups;
};

struct api_auth;

/* An empty table. */
int api_auth_new(struct api_auth **out, struct bosun_err *err);
/* Loads a token file (duplicate tokens and malformed lines are errors naming the line). */
int api_auth_load(const char *path, struct api_auth **out, struct bosun_err *err);
/* Parses the file's contents (path is used in messages). */
int api_auth_parse(const char *buf, const char *path, struct api_auth **out,
                   struct bosun_err *err);
/* Adds a user; groups is a comma-separated list or NULL. Strings are copied. */
int api_auth_add(struct api_auth *a, const char *token, const char *user, const char *uid,
                 const char *groups, struct bosun_err *err);
/* The user with this token (borrowed, valid until api_auth_free), or NULL. Compares in
 * constant time per entry. */
const struct api_user *api_auth_lookup(const struct api_auth *a, const char *token);
size_t api_auth_count(const struct api_auth *a);
void api_auth_free(struct api_auth *a);

/* The token of an "Authorization: Bearer <token>" header value (borrowed, points into
 * header), or NULL. */
const char *api_auth_bearer(const char *header);

#endif
