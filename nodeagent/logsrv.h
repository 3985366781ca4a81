/* logsrv — the nodeagent's HTTP endpoint (--listen) that reconcilerd proxies the pods/log
 * subresource to:
 *
 *   GET /containerLogs/{ns}/{pod}/{container}?follow=true&tailLines=N&previous=true
 *
 * It reads the CRI log files conmon writes
 * (<root-dir>/logs/<ns>_<pod>_<uid>/<container>/<restart>.log, lines
 * `<RFC3339Nano> <stdout|stderr> <F|P> <text>`) and answers the raw text: the CRI prefix is
 * stripped and partial (P) lines are joined. The newest pod of that name is taken (a
 * static pod edit makes a new uid), the newest restart unless previous=true. follow=true
 * streams new lines as they are written, across restarts, until the client goes away. */
#ifndef BOSUN_NODEAGENT_LOGSRV_H
#define BOSUN_NODEAGENT_LOGSRV_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

struct logsrv;

/* Parses one CRI log line. text and text_len get the payload, partial whether the line
 * continues in the next one. Returns 0, or -EINVAL when line is not in CRI format. */
int logsrv_cri_parse(const char *line, size_t len, const char **text, size_t *text_len,
                     bool *partial);

/* Serves logs_dir on listen ("127.0.0.1:10250"). *out is owned by the caller. */
int logsrv_start(const char *listen, const char *logs_dir, struct logsrv **out,
                 struct bosun_err *err);
void logsrv_stop(struct logsrv *ls);

/* The port bound (for listen addresses with port 0). */
int logsrv_port(const struct logsrv *ls);

#endif
