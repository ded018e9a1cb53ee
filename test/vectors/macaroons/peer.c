/*
 * A tiny command-line peer over Debian's libmacaroons (0.3.0, v1 format only), used by
 * test/delegation/macaroon-interop.test.ts. Build: cc -o peer peer.c -lmacaroons
 *
 * Arguments are hex so that binary keys and identifiers pass through argv unchanged.
 *   peer mint LOC KEY ID [fp PRED | tp LOC KEY ID]...   prints the serialized token
 *   peer bind ROOT DISCHARGE                            prints the bound discharge
 *   peer verify KEY ROOT [exact PRED]... [general] [discharge TOKEN]...
 *                                                       prints `ok` or `fail <code>`
 *   peer json TOKEN                                     prints the token as libmacaroons JSON
 */
#include <macaroons.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *unhex(const char *s, size_t *len) {
  size_t n = strlen(s);
  if (n % 2) { fprintf(stderr, "odd hex\n"); exit(2); }
  unsigned char *out = malloc(n / 2 + 1);
  for (size_t i = 0; i < n / 2; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) { fprintf(stderr, "bad hex\n"); exit(2); }
    out[i] = (unsigned char)v;
  }
  *len = n / 2;
  return out;
}

static void die(const char *what, enum macaroon_returncode err) {
  printf("fail %d %s\n", (int)err, what);
  exit(1);
}

static void print_token(const struct macaroon *M) {
  enum macaroon_returncode err = MACAROON_SUCCESS;
  size_t sz = macaroon_serialize_size_hint(M);
  char *buf = malloc(sz);
  if (macaroon_serialize(M, buf, sz, &err) < 0) die("serialize", err);
  printf("%s\n", buf);
  free(buf);
}

static struct macaroon *parse(const char *token) {
  enum macaroon_returncode err = MACAROON_SUCCESS;
  struct macaroon *M = macaroon_deserialize(token, &err);
  if (!M) die("deserialize", err);
  return M;
}

static int accept_all(void *f, const unsigned char *pred, size_t pred_sz) {
  (void)f; (void)pred; (void)pred_sz;
  return 0;
}

int main(int argc, char **argv) {
  enum macaroon_returncode err = MACAROON_SUCCESS;
  if (argc < 2) return 2;
  if (strcmp(argv[1], "mint") == 0 && argc >= 5) {
    size_t ll, kl, il;
    unsigned char *loc = unhex(argv[2], &ll), *key = unhex(argv[3], &kl), *id = unhex(argv[4], &il);
    struct macaroon *M = macaroon_create(loc, ll, key, kl, id, il, &err);
    if (!M) die("create", err);
    for (int i = 5; i < argc;) {
      struct macaroon *N = NULL;
      if (strcmp(argv[i], "fp") == 0 && i + 1 < argc) {
        size_t pl;
        unsigned char *p = unhex(argv[i + 1], &pl);
        N = macaroon_add_first_party_caveat(M, p, pl, &err);
        i += 2;
      } else if (strcmp(argv[i], "tp") == 0 && i + 3 < argc) {
        size_t cl, ck, ci;
        unsigned char *c1 = unhex(argv[i + 1], &cl), *c2 = unhex(argv[i + 2], &ck), *c3 = unhex(argv[i + 3], &ci);
        N = macaroon_add_third_party_caveat(M, c1, cl, c2, ck, c3, ci, &err);
        i += 4;
      } else {
        return 2;
      }
      if (!N) die("caveat", err);
      macaroon_destroy(M);
      M = N;
    }
    print_token(M);
    return 0;
  }
  if (strcmp(argv[1], "bind") == 0 && argc == 4) {
    struct macaroon *M = parse(argv[2]), *D = parse(argv[3]);
    struct macaroon *B = macaroon_prepare_for_request(M, D, &err);
    if (!B) die("bind", err);
    print_token(B);
    return 0;
  }
  if (strcmp(argv[1], "json") == 0 && argc == 3) {
    struct macaroon *M = parse(argv[2]);
    size_t sz = macaroon_serialize_json_size_hint(M);
    char *buf = malloc(sz);
    if (macaroon_serialize_json(M, buf, sz, &err) < 0) die("json", err);
    printf("%s\n", buf);
    return 0;
  }
  if (strcmp(argv[1], "verify") == 0 && argc >= 4) {
    size_t kl;
    unsigned char *key = unhex(argv[2], &kl);
    struct macaroon *M = parse(argv[3]);
    struct macaroon_verifier *V = macaroon_verifier_create();
    struct macaroon *ds[256];
    size_t nd = 0;
    for (int i = 4; i < argc; i++) {
      if (strcmp(argv[i], "exact") == 0 && i + 1 < argc) {
        size_t pl;
        unsigned char *p = unhex(argv[++i], &pl);
        if (macaroon_verifier_satisfy_exact(V, p, pl, &err) < 0) die("satisfy", err);
      } else if (strcmp(argv[i], "general") == 0) {
        if (macaroon_verifier_satisfy_general(V, accept_all, NULL, &err) < 0) die("satisfy", err);
      } else if (strcmp(argv[i], "discharge") == 0 && i + 1 < argc && nd < 256) {
        ds[nd++] = parse(argv[++i]);
      } else {
        return 2;
      }
    }
    if (macaroon_verify(V, M, key, kl, ds, nd, &err) == 0) {
      printf("ok\n");
      return 0;
    }
    die("verify", err);
  }
  return 2;
}
