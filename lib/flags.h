/* flags — command-line flags of the form --name VALUE, --name=VALUE, --bool.
 *
 * A daemon declares a table of flag_def (terminated by a {0} entry) pointing at the
 * fields of its options struct, pre-filled with defaults, and calls flags_parse. */
#ifndef BOSUN_FLAGS_H
#define BOSUN_FLAGS_H

#include <stdint.h>
#include <stdio.h>

#include "lib/err.h"

enum flag_type {
    FLAG_STR,      /* const char ** — points into argv, never freed */
    FLAG_INT,      /* long long * */
    FLAG_BOOL,     /* int * — "--x", "--x=true|false|1|0" */
    FLAG_DURATION, /* int64_t * milliseconds — "30s", "5m", "1h", "250ms", "1m30s" */
};

struct flag_def {
    const char *name; /* without the leading "--" */
    enum flag_type type;
    void *ptr;
    const char *help;
};

/* Parses argv[1..]. Positional arguments are moved to the front of argv in order
 * and their count stored in *nargs (argv[0..nargs-1] after the call). "--" ends
 * flag parsing. Returns 0, or -EINVAL with err naming the bad flag. "--help" returns
 * -ECANCELED so the caller prints usage and exits 0. */
int flags_parse(const struct flag_def *defs, int argc, char **argv, int *nargs,
                struct bosun_err *err);

/* Parses a Go-style duration ("40s", "1m30s", "250ms", "2h") into milliseconds. */
int flags_parse_duration(const char *s, int64_t *ms_out);

void flags_usage(FILE *out, const char *prog, const struct flag_def *defs);

#endif
