/* pki — the cluster's small certificate authority (OpenSSL 3).
 *
 * `bosun up` keeps, in one directory:
 *   ca.crt      the CA certificate (self-signed, CA:TRUE, keyCertSign, 10 years): what
 *               clients trust (kubeconfig certificate-authority-data, --certificate-authority)
 *   ca.key      its private key (0600)
 *   server.crt  reconcilerd's serving certificate, signed by the CA (serverAuth, the SANs
 *               asked for, 1 year)
 *   server.key  its private key (0600)
 * Keys are EC P-256 in PKCS#8 PEM; certificates PEM. Every file is written atomically
 * (temporary + rename), so a crash leaves the old file or the new one, never half of one. */
#ifndef BOSUN_PKI_H
#define BOSUN_PKI_H

#include <stddef.h>

#include "lib/err.h"

#define PKI_CA_CERT "ca.crt"
#define PKI_CA_KEY "ca.key"
#define PKI_SERVER_CERT "server.crt"
#define PKI_SERVER_KEY "server.key"

/* Makes sure dir (created 0700 if missing; its parent must exist) holds a usable CA and
 * server certificate. ip_sans / dns_sans are NULL-terminated lists (either may be NULL)
 * of the names the server certificate must carry, e.g. {"127.0.0.1", NULL} and
 * {"localhost", NULL}.
 *
 * Existing files are reused. The CA is regenerated only when both of its files are
 * missing or it expires within 30 days (a ca.crt without ca.key is an error: its trust
 * may be installed elsewhere, so it is not silently replaced). The server certificate
 * and key are regenerated when either is missing or unreadable, the key does not match,
 * it is not signed by the CA, it does not cover every requested SAN, or it expires
 * within 30 days. Returns 0, -EINVAL for a SAN that is not an IP address / a DNS name,
 * or a negative errno with err set. */
int pki_ensure(const char *dir, const char *const *ip_sans, const char *const *dns_sans,
               struct bosun_err *err);

/* Reads the file at path and base64-encodes it (one line, no newlines), as kubeconfig's
 * certificate-authority-data wants. *out is owned by the caller (free()). */
int pki_base64_file(const char *path, char **out, struct bosun_err *err);

/* Decodes base64 text (line breaks and surrounding blanks allowed), e.g. a kubeconfig's
 * certificate-authority-data. *out is owned by the caller (free()), NUL-terminated so PEM
 * can be used as a string; *len (may be NULL) gets the byte count. -EINVAL when b64 is not
 * valid base64. */
int pki_base64_decode(const char *b64, char **out, size_t *len, struct bosun_err *err);

#endif
