/*
 * A fault-injecting PKCS#11 module for latchkey's tests. It forwards every call to a real
 * module (SoftHSM2) and, as told by a small control file, behaves the way real smart cards and
 * PIV fobs do where SoftHSM cannot:
 *
 *   token <serial> present|absent <generation>
 *       absent: the token is pulled out. Its slot stays (a reader), C_GetSlotList(TRUE) omits it,
 *       C_GetSlotInfo clears CKF_TOKEN_PRESENT, C_GetTokenInfo and C_OpenSession return
 *       CKR_TOKEN_NOT_PRESENT, and every call on a session of it returns CKR_DEVICE_REMOVED.
 *       A session opened under another generation than the current one was opened before a
 *       re-plug: its calls return CKR_SESSION_HANDLE_INVALID (the card forgot it, and its login).
 *   pin-tries <n>
 *       the user PIN locks after n wrong tries (SoftHSM never locks): CKF_USER_PIN_COUNT_LOW after
 *       a wrong try, CKF_USER_PIN_FINAL_TRY with one left, CKF_USER_PIN_LOCKED and CKR_PIN_LOCKED
 *       at zero, until the SO sets a new PIN (C_InitPIN). A correct PIN resets the count.
 *   serial <real> <reported>
 *       the token reports another serial number (a token posing as another).
 *   hide-mechanism <hex>
 *       the mechanism is not in C_GetMechanismList and its *Init returns CKR_MECHANISM_INVALID.
 *   fail <C_Function> <hex rv>
 *       that function returns rv (on a live session, after the checks above). A function that
 *       starts an operation (C_*Init, key generation and derivation) is then not forwarded; one
 *       that finishes an operation is, so the operation ends with the error as on a real card.
 *   events off
 *       C_WaitForSlotEvent returns CKR_FUNCTION_NOT_SUPPORTED (otherwise it reports presence
 *       changes, and blocks only without CKF_DONT_BLOCK).
 *
 * Environment: FAULT_PKCS11_TARGET (the real module), FAULT_PKCS11_CONTROL (the control file,
 * re-read on every call; tests replace it atomically). Only the PKCS#11 types this file needs
 * are declared, after the OASIS PKCS#11 2.40 headers (pkcs11t.h, pkcs11f.h); the function list
 * order is the specification's.
 *
 * Built by the test setup: cc -shared -fPIC -o fault.so fault-module.c -ldl -lpthread
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef CK_ULONG CK_SLOT_ID;
typedef CK_ULONG CK_SESSION_HANDLE;
typedef CK_ULONG CK_OBJECT_HANDLE;
typedef CK_ULONG CK_FLAGS;
typedef CK_ULONG CK_USER_TYPE;
typedef CK_ULONG CK_MECHANISM_TYPE;
typedef unsigned char CK_BYTE;
typedef unsigned char CK_BBOOL;
typedef unsigned char CK_UTF8CHAR;
typedef void *CK_VOID_PTR;

typedef struct {
  CK_BYTE major;
  CK_BYTE minor;
} CK_VERSION;

typedef struct {
  CK_UTF8CHAR slotDescription[64];
  CK_UTF8CHAR manufacturerID[32];
  CK_FLAGS flags;
  CK_VERSION hardwareVersion;
  CK_VERSION firmwareVersion;
} CK_SLOT_INFO;

typedef struct {
  CK_UTF8CHAR label[32];
  CK_UTF8CHAR manufacturerID[32];
  CK_UTF8CHAR model[16];
  CK_BYTE serialNumber[16];
  CK_FLAGS flags;
  CK_ULONG ulMaxSessionCount, ulSessionCount, ulMaxRwSessionCount, ulRwSessionCount;
  CK_ULONG ulMaxPinLen, ulMinPinLen;
  CK_ULONG ulTotalPublicMemory, ulFreePublicMemory, ulTotalPrivateMemory, ulFreePrivateMemory;
  CK_VERSION hardwareVersion;
  CK_VERSION firmwareVersion;
  CK_BYTE utcTime[16];
} CK_TOKEN_INFO;

typedef struct {
  CK_MECHANISM_TYPE mechanism;
  CK_VOID_PTR pParameter;
  CK_ULONG ulParameterLen;
} CK_MECHANISM;

#define CKR_OK 0x00UL
#define CKR_GENERAL_ERROR 0x05UL
#define CKR_ARGUMENTS_BAD 0x07UL
#define CKR_NO_EVENT 0x08UL
#define CKR_DEVICE_REMOVED 0x32UL
#define CKR_FUNCTION_NOT_SUPPORTED 0x54UL
#define CKR_MECHANISM_INVALID 0x70UL
#define CKR_PIN_INCORRECT 0xA0UL
#define CKR_PIN_LOCKED 0xA4UL
#define CKR_SESSION_HANDLE_INVALID 0xB3UL
#define CKR_TOKEN_NOT_PRESENT 0xE0UL
#define CKR_BUFFER_TOO_SMALL 0x150UL
#define CKR_CRYPTOKI_NOT_INITIALIZED 0x190UL
#define CKR_CRYPTOKI_ALREADY_INITIALIZED 0x191UL

#define CKF_TOKEN_PRESENT 0x1UL
#define CKF_USER_PIN_COUNT_LOW (1UL << 16)
#define CKF_USER_PIN_FINAL_TRY (1UL << 17)
#define CKF_USER_PIN_LOCKED (1UL << 18)
#define CKF_DONT_BLOCK 0x1UL
#define CKU_SO 0UL

typedef struct CK_FUNCTION_LIST CK_FUNCTION_LIST;
typedef CK_BYTE *P; /* any data buffer */
typedef CK_ULONG *PL;
typedef void *TMPL; /* CK_ATTRIBUTE * */

struct CK_FUNCTION_LIST {
  CK_VERSION version;
  CK_RV (*C_Initialize)(CK_VOID_PTR);
  CK_RV (*C_Finalize)(CK_VOID_PTR);
  CK_RV (*C_GetInfo)(CK_VOID_PTR);
  CK_RV (*C_GetFunctionList)(CK_FUNCTION_LIST **);
  CK_RV (*C_GetSlotList)(CK_BBOOL, CK_SLOT_ID *, PL);
  CK_RV (*C_GetSlotInfo)(CK_SLOT_ID, CK_SLOT_INFO *);
  CK_RV (*C_GetTokenInfo)(CK_SLOT_ID, CK_TOKEN_INFO *);
  CK_RV (*C_GetMechanismList)(CK_SLOT_ID, CK_MECHANISM_TYPE *, PL);
  CK_RV (*C_GetMechanismInfo)(CK_SLOT_ID, CK_MECHANISM_TYPE, CK_VOID_PTR);
  CK_RV (*C_InitToken)(CK_SLOT_ID, P, CK_ULONG, P);
  CK_RV (*C_InitPIN)(CK_SESSION_HANDLE, P, CK_ULONG);
  CK_RV (*C_SetPIN)(CK_SESSION_HANDLE, P, CK_ULONG, P, CK_ULONG);
  CK_RV (*C_OpenSession)(CK_SLOT_ID, CK_FLAGS, CK_VOID_PTR, CK_VOID_PTR, CK_SESSION_HANDLE *);
  CK_RV (*C_CloseSession)(CK_SESSION_HANDLE);
  CK_RV (*C_CloseAllSessions)(CK_SLOT_ID);
  CK_RV (*C_GetSessionInfo)(CK_SESSION_HANDLE, CK_VOID_PTR);
  CK_RV (*C_GetOperationState)(CK_SESSION_HANDLE, P, PL);
  CK_RV (*C_SetOperationState)(CK_SESSION_HANDLE, P, CK_ULONG, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE);
  CK_RV (*C_Login)(CK_SESSION_HANDLE, CK_USER_TYPE, P, CK_ULONG);
  CK_RV (*C_Logout)(CK_SESSION_HANDLE);
  CK_RV (*C_CreateObject)(CK_SESSION_HANDLE, TMPL, CK_ULONG, CK_OBJECT_HANDLE *);
  CK_RV (*C_CopyObject)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, TMPL, CK_ULONG, CK_OBJECT_HANDLE *);
  CK_RV (*C_DestroyObject)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE);
  CK_RV (*C_GetObjectSize)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, PL);
  CK_RV (*C_GetAttributeValue)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, TMPL, CK_ULONG);
  CK_RV (*C_SetAttributeValue)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, TMPL, CK_ULONG);
  CK_RV (*C_FindObjectsInit)(CK_SESSION_HANDLE, TMPL, CK_ULONG);
  CK_RV (*C_FindObjects)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE *, CK_ULONG, PL);
  CK_RV (*C_FindObjectsFinal)(CK_SESSION_HANDLE);
  CK_RV (*C_EncryptInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
  CK_RV (*C_Encrypt)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_EncryptUpdate)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_EncryptFinal)(CK_SESSION_HANDLE, P, PL);
  CK_RV (*C_DecryptInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
  CK_RV (*C_Decrypt)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_DecryptUpdate)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_DecryptFinal)(CK_SESSION_HANDLE, P, PL);
  CK_RV (*C_DigestInit)(CK_SESSION_HANDLE, CK_MECHANISM *);
  CK_RV (*C_Digest)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_DigestUpdate)(CK_SESSION_HANDLE, P, CK_ULONG);
  CK_RV (*C_DigestKey)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE);
  CK_RV (*C_DigestFinal)(CK_SESSION_HANDLE, P, PL);
  CK_RV (*C_SignInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
  CK_RV (*C_Sign)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_SignUpdate)(CK_SESSION_HANDLE, P, CK_ULONG);
  CK_RV (*C_SignFinal)(CK_SESSION_HANDLE, P, PL);
  CK_RV (*C_SignRecoverInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
  CK_RV (*C_SignRecover)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_VerifyInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
  CK_RV (*C_Verify)(CK_SESSION_HANDLE, P, CK_ULONG, P, CK_ULONG);
  CK_RV (*C_VerifyUpdate)(CK_SESSION_HANDLE, P, CK_ULONG);
  CK_RV (*C_VerifyFinal)(CK_SESSION_HANDLE, P, CK_ULONG);
  CK_RV (*C_VerifyRecoverInit)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
  CK_RV (*C_VerifyRecover)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_DigestEncryptUpdate)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_DecryptDigestUpdate)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_SignEncryptUpdate)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_DecryptVerifyUpdate)(CK_SESSION_HANDLE, P, CK_ULONG, P, PL);
  CK_RV (*C_GenerateKey)(CK_SESSION_HANDLE, CK_MECHANISM *, TMPL, CK_ULONG, CK_OBJECT_HANDLE *);
  CK_RV (*C_GenerateKeyPair)(CK_SESSION_HANDLE, CK_MECHANISM *, TMPL, CK_ULONG, TMPL, CK_ULONG, CK_OBJECT_HANDLE *,
                             CK_OBJECT_HANDLE *);
  CK_RV (*C_WrapKey)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE, CK_OBJECT_HANDLE, P, PL);
  CK_RV (*C_UnwrapKey)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE, P, CK_ULONG, TMPL, CK_ULONG,
                       CK_OBJECT_HANDLE *);
  CK_RV (*C_DeriveKey)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE, TMPL, CK_ULONG, CK_OBJECT_HANDLE *);
  CK_RV (*C_SeedRandom)(CK_SESSION_HANDLE, P, CK_ULONG);
  CK_RV (*C_GenerateRandom)(CK_SESSION_HANDLE, P, CK_ULONG);
  CK_RV (*C_GetFunctionStatus)(CK_SESSION_HANDLE);
  CK_RV (*C_CancelFunction)(CK_SESSION_HANDLE);
  CK_RV (*C_WaitForSlotEvent)(CK_FLAGS, CK_SLOT_ID *, CK_VOID_PTR);
};

/* ---------------------------------------------------------------- state */

#define MAX_SLOTS 32
#define MAX_SESSIONS 4096
#define MAX_RULES 32
#define MAX_EVENTS 64

struct slot {
  CK_SLOT_ID id;
  char serial[17]; /* trimmed; empty for a slot without an initialised token */
  int present_seen;
  unsigned long generation_seen;
  int tries_left;
  int locked;
};

struct token_rule {
  char serial[17];
  int present;
  unsigned long generation;
};

struct serial_rule {
  char real[17];
  char reported[17];
};

struct fail_rule {
  char function[40];
  CK_RV rv;
};

struct control {
  struct token_rule tokens[MAX_RULES];
  int token_count;
  struct serial_rule serials[MAX_RULES];
  int serial_count;
  CK_MECHANISM_TYPE hidden[MAX_RULES];
  int hidden_count;
  struct fail_rule fails[MAX_RULES];
  int fail_count;
  int pin_tries; /* 0: no lockout (pass through) */
  int events_off;
};

struct session {
  CK_SESSION_HANDLE handle;
  CK_SLOT_ID slot;
  unsigned long generation;
  int used;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *target_library;
static CK_FUNCTION_LIST *target;
static CK_FUNCTION_LIST table;
static int initialized;
static int owns_target_initialization;
static struct slot slots[MAX_SLOTS];
static int slot_count;
static struct session sessions[MAX_SESSIONS];
static struct control control;
static CK_SLOT_ID events[MAX_EVENTS];
static int event_count;

static void trim_serial(char out[17], const CK_BYTE in[16]) {
  memcpy(out, in, 16);
  out[16] = 0;
  for (int i = 15; i >= 0 && (out[i] == ' ' || out[i] == 0); i--) out[i] = 0;
}

static void read_control(void) {
  memset(&control, 0, sizeof control);
  const char *path = getenv("FAULT_PKCS11_CONTROL");
  if (path == NULL) return;
  FILE *file = fopen(path, "r");
  if (file == NULL) return;
  char line[256];
  while (fgets(line, sizeof line, file) != NULL) {
    char a[64] = {0}, b[64] = {0}, c[64] = {0};
    int n = sscanf(line, "%63s %63s %63s", a, b, c);
    if (n >= 2 && strcmp(a, "token") == 0 && control.token_count < MAX_RULES) {
      struct token_rule *rule = &control.tokens[control.token_count++];
      snprintf(rule->serial, sizeof rule->serial, "%.16s", b);
      rule->present = n < 3 || strcmp(c, "absent") != 0;
      char d[32] = {0};
      rule->generation = sscanf(line, "%*s %*s %*s %31s", d) == 1 ? strtoul(d, NULL, 10) : 0;
    } else if (n == 3 && strcmp(a, "serial") == 0 && control.serial_count < MAX_RULES) {
      struct serial_rule *rule = &control.serials[control.serial_count++];
      snprintf(rule->real, sizeof rule->real, "%.16s", b);
      snprintf(rule->reported, sizeof rule->reported, "%.16s", c);
    } else if (n == 2 && strcmp(a, "pin-tries") == 0) {
      control.pin_tries = atoi(b);
    } else if (n == 2 && strcmp(a, "hide-mechanism") == 0 && control.hidden_count < MAX_RULES) {
      control.hidden[control.hidden_count++] = strtoul(b, NULL, 16);
    } else if (n == 3 && strcmp(a, "fail") == 0 && control.fail_count < MAX_RULES) {
      struct fail_rule *rule = &control.fails[control.fail_count++];
      snprintf(rule->function, sizeof rule->function, "%.39s", b);
      rule->rv = strtoul(c, NULL, 16);
    } else if (n == 2 && strcmp(a, "events") == 0) {
      control.events_off = strcmp(b, "off") == 0;
    }
  }
  fclose(file);
}

static struct slot *find_slot(CK_SLOT_ID id) {
  for (int i = 0; i < slot_count; i++)
    if (slots[i].id == id) return &slots[i];
  return NULL;
}

static const struct token_rule *token_rule_of(const struct slot *slot) {
  if (slot == NULL || slot->serial[0] == 0) return NULL;
  for (int i = 0; i < control.token_count; i++)
    if (strcmp(control.tokens[i].serial, slot->serial) == 0) return &control.tokens[i];
  return NULL;
}

static int slot_present(const struct slot *slot) {
  const struct token_rule *rule = token_rule_of(slot);
  return rule == NULL || rule->present;
}

static unsigned long slot_generation(const struct slot *slot) {
  const struct token_rule *rule = token_rule_of(slot);
  return rule == NULL ? 0 : rule->generation;
}

static void push_event(CK_SLOT_ID id) {
  for (int i = 0; i < event_count; i++)
    if (events[i] == id) return;
  if (event_count < MAX_EVENTS) events[event_count++] = id;
}

/* Re-read the control file and act on what changed since the last call (with `lock` held). */
static void refresh(void) {
  read_control();
  for (int i = 0; i < slot_count; i++) {
    struct slot *slot = &slots[i];
    int present = slot_present(slot);
    unsigned long generation = slot_generation(slot);
    if (present != slot->present_seen || generation != slot->generation_seen) {
      push_event(slot->id);
      if (generation != slot->generation_seen) {
        /* The card lost power: SoftHSM forgets the sessions and the login too. Our entries stay,
           so that calls on them fail as invalid handles. */
        target->C_CloseAllSessions(slot->id);
      }
      slot->present_seen = present;
      slot->generation_seen = generation;
    }
    if (control.pin_tries > 0 && slot->tries_left == 0 && !slot->locked) slot->tries_left = control.pin_tries;
    if (control.pin_tries == 0) {
      slot->tries_left = 0;
      slot->locked = 0;
    }
  }
}

static int mechanism_hidden(CK_MECHANISM_TYPE type) {
  for (int i = 0; i < control.hidden_count; i++)
    if (control.hidden[i] == type) return 1;
  return 0;
}

static CK_RV injected(const char *function) {
  for (int i = 0; i < control.fail_count; i++)
    if (strcmp(control.fails[i].function, function) == 0) return control.fails[i].rv;
  return CKR_OK;
}

static struct session *find_session(CK_SESSION_HANDLE handle) {
  for (int i = 0; i < MAX_SESSIONS; i++)
    if (sessions[i].used && sessions[i].handle == handle) return &sessions[i];
  return NULL;
}

/* The checks every call on a session goes through; returns the slot (or NULL) in *slot_out. */
static CK_RV gate(CK_SESSION_HANDLE handle, const char *function, struct slot **slot_out) {
  CK_RV rv = CKR_OK;
  struct slot *slot = NULL;
  pthread_mutex_lock(&lock);
  if (!initialized) {
    pthread_mutex_unlock(&lock);
    return CKR_CRYPTOKI_NOT_INITIALIZED;
  }
  refresh();
  struct session *session = find_session(handle);
  if (session != NULL) {
    slot = find_slot(session->slot);
    if (!slot_present(slot))
      rv = CKR_DEVICE_REMOVED;
    else if (slot_generation(slot) != session->generation)
      rv = CKR_SESSION_HANDLE_INVALID;
  }
  (void)function;
  pthread_mutex_unlock(&lock);
  if (slot_out != NULL) *slot_out = slot;
  return rv;
}

/* The value a `fail` rule forces for `function`, or CKR_OK. */
static CK_RV forced(const char *function) {
  pthread_mutex_lock(&lock);
  CK_RV rv = injected(function);
  pthread_mutex_unlock(&lock);
  return rv;
}

/* Checks of a call that starts an operation (or makes an object): nothing reaches the real module
   when a rule refuses it, so no operation is left active behind the error. */
static CK_RV gate_mechanism(CK_SESSION_HANDLE handle, const char *function, const CK_MECHANISM *mechanism) {
  CK_RV rv = gate(handle, function, NULL);
  if (rv != CKR_OK) return rv;
  rv = forced(function);
  if (rv != CKR_OK) return rv;
  if (mechanism == NULL) return CKR_OK;
  pthread_mutex_lock(&lock);
  int hidden = mechanism_hidden(mechanism->mechanism);
  pthread_mutex_unlock(&lock);
  return hidden ? CKR_MECHANISM_INVALID : CKR_OK;
}

static int is_init(const char *function) {
  size_t length = strlen(function);
  return length > 4 && strcmp(function + length - 4, "Init") == 0;
}

/* ---------------------------------------------------------------- general and slots */

static CK_RV fault_C_Initialize(CK_VOID_PTR args) {
  if (target == NULL) return CKR_GENERAL_ERROR;
  pthread_mutex_lock(&lock);
  if (initialized) {
    pthread_mutex_unlock(&lock);
    return CKR_CRYPTOKI_ALREADY_INITIALIZED;
  }
  CK_RV rv = target->C_Initialize(args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    pthread_mutex_unlock(&lock);
    return rv;
  }
  owns_target_initialization = rv == CKR_OK;
  CK_SLOT_ID ids[MAX_SLOTS];
  CK_ULONG count = MAX_SLOTS;
  slot_count = 0;
  if (target->C_GetSlotList(0, ids, &count) == CKR_OK) {
    for (CK_ULONG i = 0; i < count && slot_count < MAX_SLOTS; i++) {
      struct slot *slot = &slots[slot_count++];
      memset(slot, 0, sizeof *slot);
      slot->id = ids[i];
      CK_TOKEN_INFO info;
      if (target->C_GetTokenInfo(ids[i], &info) == CKR_OK) trim_serial(slot->serial, info.serialNumber);
    }
  }
  memset(sessions, 0, sizeof sessions);
  event_count = 0;
  read_control();
  for (int i = 0; i < slot_count; i++) {
    slots[i].present_seen = slot_present(&slots[i]);
    slots[i].generation_seen = slot_generation(&slots[i]);
    slots[i].tries_left = control.pin_tries;
  }
  initialized = 1;
  pthread_mutex_unlock(&lock);
  return CKR_OK;
}

static CK_RV fault_C_Finalize(CK_VOID_PTR reserved) {
  pthread_mutex_lock(&lock);
  if (!initialized) {
    pthread_mutex_unlock(&lock);
    return CKR_CRYPTOKI_NOT_INITIALIZED;
  }
  initialized = 0;
  CK_RV rv = owns_target_initialization ? target->C_Finalize(reserved) : CKR_OK;
  pthread_mutex_unlock(&lock);
  return rv;
}

static CK_RV fault_C_GetSlotList(CK_BBOOL token_present, CK_SLOT_ID *list, PL count) {
  if (count == NULL) return CKR_ARGUMENTS_BAD;
  CK_SLOT_ID ids[MAX_SLOTS];
  CK_ULONG all = MAX_SLOTS;
  CK_RV rv = target->C_GetSlotList(token_present, ids, &all);
  if (rv != CKR_OK) return rv;
  CK_ULONG kept = 0;
  pthread_mutex_lock(&lock);
  refresh();
  for (CK_ULONG i = 0; i < all; i++) {
    if (token_present && !slot_present(find_slot(ids[i]))) continue;
    ids[kept++] = ids[i];
  }
  pthread_mutex_unlock(&lock);
  if (list == NULL) {
    *count = kept;
    return CKR_OK;
  }
  if (*count < kept) {
    *count = kept;
    return CKR_BUFFER_TOO_SMALL;
  }
  memcpy(list, ids, kept * sizeof(CK_SLOT_ID));
  *count = kept;
  return CKR_OK;
}

static CK_RV fault_C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO *info) {
  CK_RV rv = target->C_GetSlotInfo(id, info);
  if (rv != CKR_OK || info == NULL) return rv;
  pthread_mutex_lock(&lock);
  refresh();
  if (!slot_present(find_slot(id))) info->flags &= ~CKF_TOKEN_PRESENT;
  pthread_mutex_unlock(&lock);
  return rv;
}

static CK_RV fault_C_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO *info) {
  pthread_mutex_lock(&lock);
  refresh();
  struct slot *slot = find_slot(id);
  int present = slot_present(slot);
  pthread_mutex_unlock(&lock);
  if (!present) return CKR_TOKEN_NOT_PRESENT;
  CK_RV rv = target->C_GetTokenInfo(id, info);
  if (rv != CKR_OK || info == NULL || slot == NULL) return rv;
  pthread_mutex_lock(&lock);
  info->flags &= ~(CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED);
  if (control.pin_tries > 0) {
    if (slot->locked)
      info->flags |= CKF_USER_PIN_LOCKED;
    else {
      if (slot->tries_left < control.pin_tries) info->flags |= CKF_USER_PIN_COUNT_LOW;
      if (slot->tries_left == 1) info->flags |= CKF_USER_PIN_FINAL_TRY;
    }
  }
  char serial[17];
  trim_serial(serial, info->serialNumber);
  for (int i = 0; i < control.serial_count; i++) {
    if (strcmp(control.serials[i].real, serial) == 0) {
      memset(info->serialNumber, ' ', 16);
      memcpy(info->serialNumber, control.serials[i].reported, strlen(control.serials[i].reported));
    }
  }
  pthread_mutex_unlock(&lock);
  return rv;
}

static CK_RV fault_C_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE *list, PL count) {
  if (count == NULL) return CKR_ARGUMENTS_BAD;
  CK_ULONG all = 0;
  CK_RV rv = target->C_GetMechanismList(id, NULL, &all);
  if (rv != CKR_OK) return rv;
  CK_MECHANISM_TYPE *types = calloc(all + 1, sizeof(CK_MECHANISM_TYPE));
  if (types == NULL) return CKR_GENERAL_ERROR;
  rv = target->C_GetMechanismList(id, types, &all);
  if (rv != CKR_OK) {
    free(types);
    return rv;
  }
  CK_ULONG kept = 0;
  pthread_mutex_lock(&lock);
  refresh();
  for (CK_ULONG i = 0; i < all; i++)
    if (!mechanism_hidden(types[i])) types[kept++] = types[i];
  pthread_mutex_unlock(&lock);
  if (list == NULL) {
    *count = kept;
  } else if (*count < kept) {
    *count = kept;
    rv = CKR_BUFFER_TOO_SMALL;
  } else {
    memcpy(list, types, kept * sizeof(CK_MECHANISM_TYPE));
    *count = kept;
  }
  free(types);
  return rv;
}

static CK_RV fault_C_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE type, CK_VOID_PTR info) {
  pthread_mutex_lock(&lock);
  refresh();
  int hidden = mechanism_hidden(type);
  pthread_mutex_unlock(&lock);
  if (hidden) return CKR_MECHANISM_INVALID;
  return target->C_GetMechanismInfo(id, type, info);
}

static CK_RV fault_C_OpenSession(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR app, CK_VOID_PTR notify,
                                 CK_SESSION_HANDLE *handle) {
  pthread_mutex_lock(&lock);
  refresh();
  struct slot *slot = find_slot(id);
  int present = slot_present(slot);
  unsigned long generation = slot_generation(slot);
  pthread_mutex_unlock(&lock);
  if (!present) return CKR_TOKEN_NOT_PRESENT;
  CK_RV rv = target->C_OpenSession(id, flags, app, notify, handle);
  if (rv != CKR_OK || handle == NULL) return rv;
  pthread_mutex_lock(&lock);
  struct session *session = find_session(*handle);
  for (int i = 0; session == NULL && i < MAX_SESSIONS; i++)
    if (!sessions[i].used) session = &sessions[i];
  if (session != NULL) {
    session->used = 1;
    session->handle = *handle;
    session->slot = id;
    session->generation = generation;
  }
  pthread_mutex_unlock(&lock);
  return rv;
}

static CK_RV fault_C_CloseSession(CK_SESSION_HANDLE handle) {
  CK_RV rv = gate(handle, "C_CloseSession", NULL);
  pthread_mutex_lock(&lock);
  struct session *session = find_session(handle);
  if (session != NULL) session->used = 0;
  pthread_mutex_unlock(&lock);
  if (rv != CKR_OK) return rv;
  return target->C_CloseSession(handle);
}

static CK_RV fault_C_CloseAllSessions(CK_SLOT_ID id) {
  pthread_mutex_lock(&lock);
  for (int i = 0; i < MAX_SESSIONS; i++)
    if (sessions[i].used && sessions[i].slot == id) sessions[i].used = 0;
  pthread_mutex_unlock(&lock);
  return target->C_CloseAllSessions(id);
}

static CK_RV fault_C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID *slot, CK_VOID_PTR reserved) {
  (void)reserved;
  if (slot == NULL) return CKR_ARGUMENTS_BAD;
  for (;;) {
    pthread_mutex_lock(&lock);
    if (!initialized) {
      pthread_mutex_unlock(&lock);
      return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    refresh();
    if (control.events_off) {
      pthread_mutex_unlock(&lock);
      return CKR_FUNCTION_NOT_SUPPORTED;
    }
    if (event_count > 0) {
      *slot = events[0];
      memmove(events, events + 1, (size_t)(event_count - 1) * sizeof(CK_SLOT_ID));
      event_count--;
      pthread_mutex_unlock(&lock);
      return CKR_OK;
    }
    pthread_mutex_unlock(&lock);
    if (flags & CKF_DONT_BLOCK) return CKR_NO_EVENT;
    usleep(20000);
  }
}

/* ---------------------------------------------------------------- PIN handling */

/* After a user-PIN attempt: count it as a real card does. */
static CK_RV count_pin_attempt(struct slot *slot, CK_RV rv) {
  if (slot == NULL) return rv;
  pthread_mutex_lock(&lock);
  if (control.pin_tries > 0) {
    if (rv == CKR_PIN_INCORRECT) {
      if (slot->tries_left > 0) slot->tries_left--;
      if (slot->tries_left == 0) slot->locked = 1;
    } else if (rv == CKR_OK) {
      slot->tries_left = control.pin_tries;
    }
  }
  pthread_mutex_unlock(&lock);
  return rv;
}

static int slot_locked(struct slot *slot) {
  if (slot == NULL) return 0;
  pthread_mutex_lock(&lock);
  int locked = control.pin_tries > 0 && slot->locked;
  pthread_mutex_unlock(&lock);
  return locked;
}

static CK_RV fault_C_Login(CK_SESSION_HANDLE handle, CK_USER_TYPE type, P pin, CK_ULONG length) {
  struct slot *slot;
  CK_RV rv = gate(handle, "C_Login", &slot);
  if (rv == CKR_OK) rv = forced("C_Login");
  if (rv != CKR_OK) return rv;
  if (type == CKU_SO) return target->C_Login(handle, type, pin, length);
  if (slot_locked(slot)) return CKR_PIN_LOCKED;
  return count_pin_attempt(slot, target->C_Login(handle, type, pin, length));
}

static CK_RV fault_C_InitPIN(CK_SESSION_HANDLE handle, P pin, CK_ULONG length) {
  struct slot *slot;
  CK_RV rv = gate(handle, "C_InitPIN", &slot);
  if (rv != CKR_OK) return rv;
  rv = target->C_InitPIN(handle, pin, length);
  if (rv == CKR_OK && slot != NULL) {
    pthread_mutex_lock(&lock);
    slot->locked = 0;
    slot->tries_left = control.pin_tries;
    pthread_mutex_unlock(&lock);
  }
  return rv;
}

static CK_RV fault_C_SetPIN(CK_SESSION_HANDLE handle, P old_pin, CK_ULONG old_length, P new_pin, CK_ULONG new_length) {
  struct slot *slot;
  CK_RV rv = gate(handle, "C_SetPIN", &slot);
  if (rv != CKR_OK) return rv;
  if (slot_locked(slot)) return CKR_PIN_LOCKED;
  return count_pin_attempt(slot, target->C_SetPIN(handle, old_pin, old_length, new_pin, new_length));
}

/* ---------------------------------------------------------------- every other session call */

/* A forced failure of a call that finishes an operation still runs it on the real module, as a
   card ends the operation with its error (PKCS#11 §5.2); one that starts an operation does not. */
#define SESSION_CALL(name, params, args)                       \
  static CK_RV fault_##name params {                           \
    CK_RV rv = gate(hSession, #name, NULL);                    \
    if (rv != CKR_OK) return rv;                               \
    CK_RV force = forced(#name);                               \
    if (force != CKR_OK && is_init(#name)) return force;       \
    rv = target->name args;                                    \
    return force != CKR_OK ? force : rv;                       \
  }

#define MECHANISM_CALL(name, params, args)                     \
  static CK_RV fault_##name params {                           \
    CK_RV rv = gate_mechanism(hSession, #name, pMechanism);    \
    return rv != CKR_OK ? rv : target->name args;              \
  }

SESSION_CALL(C_GetSessionInfo, (CK_SESSION_HANDLE hSession, CK_VOID_PTR info), (hSession, info))
SESSION_CALL(C_GetOperationState, (CK_SESSION_HANDLE hSession, P a, PL b), (hSession, a, b))
SESSION_CALL(C_SetOperationState, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d),
             (hSession, a, b, c, d))
SESSION_CALL(C_Logout, (CK_SESSION_HANDLE hSession), (hSession))
SESSION_CALL(C_CreateObject, (CK_SESSION_HANDLE hSession, TMPL a, CK_ULONG b, CK_OBJECT_HANDLE *c), (hSession, a, b, c))
SESSION_CALL(C_CopyObject, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE a, TMPL b, CK_ULONG c, CK_OBJECT_HANDLE *d),
             (hSession, a, b, c, d))
SESSION_CALL(C_DestroyObject, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE a), (hSession, a))
SESSION_CALL(C_GetObjectSize, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE a, PL b), (hSession, a, b))
SESSION_CALL(C_GetAttributeValue, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE a, TMPL b, CK_ULONG c),
             (hSession, a, b, c))
SESSION_CALL(C_SetAttributeValue, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE a, TMPL b, CK_ULONG c),
             (hSession, a, b, c))
SESSION_CALL(C_FindObjectsInit, (CK_SESSION_HANDLE hSession, TMPL a, CK_ULONG b), (hSession, a, b))
SESSION_CALL(C_FindObjects, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE *a, CK_ULONG b, PL c), (hSession, a, b, c))
SESSION_CALL(C_FindObjectsFinal, (CK_SESSION_HANDLE hSession), (hSession))
MECHANISM_CALL(C_EncryptInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE a),
               (hSession, pMechanism, a))
SESSION_CALL(C_Encrypt, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_EncryptUpdate, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_EncryptFinal, (CK_SESSION_HANDLE hSession, P a, PL b), (hSession, a, b))
MECHANISM_CALL(C_DecryptInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE a),
               (hSession, pMechanism, a))
SESSION_CALL(C_Decrypt, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_DecryptUpdate, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_DecryptFinal, (CK_SESSION_HANDLE hSession, P a, PL b), (hSession, a, b))
MECHANISM_CALL(C_DigestInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism), (hSession, pMechanism))
SESSION_CALL(C_Digest, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_DigestUpdate, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b), (hSession, a, b))
SESSION_CALL(C_DigestKey, (CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE a), (hSession, a))
SESSION_CALL(C_DigestFinal, (CK_SESSION_HANDLE hSession, P a, PL b), (hSession, a, b))
MECHANISM_CALL(C_SignInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE a),
               (hSession, pMechanism, a))
SESSION_CALL(C_Sign, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_SignUpdate, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b), (hSession, a, b))
SESSION_CALL(C_SignFinal, (CK_SESSION_HANDLE hSession, P a, PL b), (hSession, a, b))
MECHANISM_CALL(C_SignRecoverInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE a),
               (hSession, pMechanism, a))
SESSION_CALL(C_SignRecover, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
MECHANISM_CALL(C_VerifyInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE a),
               (hSession, pMechanism, a))
SESSION_CALL(C_Verify, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, CK_ULONG d), (hSession, a, b, c, d))
SESSION_CALL(C_VerifyUpdate, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b), (hSession, a, b))
SESSION_CALL(C_VerifyFinal, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b), (hSession, a, b))
MECHANISM_CALL(C_VerifyRecoverInit, (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE a),
               (hSession, pMechanism, a))
SESSION_CALL(C_VerifyRecover, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_DigestEncryptUpdate, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_DecryptDigestUpdate, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_SignEncryptUpdate, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
SESSION_CALL(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b, P c, PL d), (hSession, a, b, c, d))
MECHANISM_CALL(C_GenerateKey,
               (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, TMPL a, CK_ULONG b, CK_OBJECT_HANDLE *c),
               (hSession, pMechanism, a, b, c))
MECHANISM_CALL(C_GenerateKeyPair,
               (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, TMPL a, CK_ULONG b, TMPL c, CK_ULONG d,
                CK_OBJECT_HANDLE *e, CK_OBJECT_HANDLE *f),
               (hSession, pMechanism, a, b, c, d, e, f))
MECHANISM_CALL(C_WrapKey,
               (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE a, CK_OBJECT_HANDLE b, P c,
                PL d),
               (hSession, pMechanism, a, b, c, d))
MECHANISM_CALL(C_UnwrapKey,
               (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE a, P b, CK_ULONG c, TMPL d,
                CK_ULONG e, CK_OBJECT_HANDLE *f),
               (hSession, pMechanism, a, b, c, d, e, f))
MECHANISM_CALL(C_DeriveKey,
               (CK_SESSION_HANDLE hSession, CK_MECHANISM *pMechanism, CK_OBJECT_HANDLE a, TMPL b, CK_ULONG c,
                CK_OBJECT_HANDLE *d),
               (hSession, pMechanism, a, b, c, d))
SESSION_CALL(C_SeedRandom, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b), (hSession, a, b))
SESSION_CALL(C_GenerateRandom, (CK_SESSION_HANDLE hSession, P a, CK_ULONG b), (hSession, a, b))
SESSION_CALL(C_GetFunctionStatus, (CK_SESSION_HANDLE hSession), (hSession))
SESSION_CALL(C_CancelFunction, (CK_SESSION_HANDLE hSession), (hSession))

/* ---------------------------------------------------------------- the entry point */

static CK_RV fault_C_GetFunctionList(CK_FUNCTION_LIST **list);

static int load_target(void) {
  if (target != NULL) return 1;
  const char *path = getenv("FAULT_PKCS11_TARGET");
  if (path == NULL) return 0;
  target_library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (target_library == NULL) return 0;
  CK_RV (*get)(CK_FUNCTION_LIST **) = (CK_RV(*)(CK_FUNCTION_LIST **))dlsym(target_library, "C_GetFunctionList");
  if (get == NULL || get(&target) != CKR_OK || target == NULL) {
    target = NULL;
    return 0;
  }
  table = *target;
#define USE(name) table.name = fault_##name
  USE(C_Initialize);
  USE(C_Finalize);
  USE(C_GetFunctionList);
  USE(C_GetSlotList);
  USE(C_GetSlotInfo);
  USE(C_GetTokenInfo);
  USE(C_GetMechanismList);
  USE(C_GetMechanismInfo);
  USE(C_InitPIN);
  USE(C_SetPIN);
  USE(C_OpenSession);
  USE(C_CloseSession);
  USE(C_CloseAllSessions);
  USE(C_GetSessionInfo);
  USE(C_GetOperationState);
  USE(C_SetOperationState);
  USE(C_Login);
  USE(C_Logout);
  USE(C_CreateObject);
  USE(C_CopyObject);
  USE(C_DestroyObject);
  USE(C_GetObjectSize);
  USE(C_GetAttributeValue);
  USE(C_SetAttributeValue);
  USE(C_FindObjectsInit);
  USE(C_FindObjects);
  USE(C_FindObjectsFinal);
  USE(C_EncryptInit);
  USE(C_Encrypt);
  USE(C_EncryptUpdate);
  USE(C_EncryptFinal);
  USE(C_DecryptInit);
  USE(C_Decrypt);
  USE(C_DecryptUpdate);
  USE(C_DecryptFinal);
  USE(C_DigestInit);
  USE(C_Digest);
  USE(C_DigestUpdate);
  USE(C_DigestKey);
  USE(C_DigestFinal);
  USE(C_SignInit);
  USE(C_Sign);
  USE(C_SignUpdate);
  USE(C_SignFinal);
  USE(C_SignRecoverInit);
  USE(C_SignRecover);
  USE(C_VerifyInit);
  USE(C_Verify);
  USE(C_VerifyUpdate);
  USE(C_VerifyFinal);
  USE(C_VerifyRecoverInit);
  USE(C_VerifyRecover);
  USE(C_DigestEncryptUpdate);
  USE(C_DecryptDigestUpdate);
  USE(C_SignEncryptUpdate);
  USE(C_DecryptVerifyUpdate);
  USE(C_GenerateKey);
  USE(C_GenerateKeyPair);
  USE(C_WrapKey);
  USE(C_UnwrapKey);
  USE(C_DeriveKey);
  USE(C_SeedRandom);
  USE(C_GenerateRandom);
  USE(C_GetFunctionStatus);
  USE(C_CancelFunction);
  USE(C_WaitForSlotEvent);
#undef USE
  return 1;
}

static CK_RV fault_C_GetFunctionList(CK_FUNCTION_LIST **list) {
  if (list == NULL) return CKR_ARGUMENTS_BAD;
  pthread_mutex_lock(&lock);
  int ok = load_target();
  pthread_mutex_unlock(&lock);
  if (!ok) return CKR_GENERAL_ERROR;
  *list = &table;
  return CKR_OK;
}

__attribute__((visibility("default"))) CK_RV C_GetFunctionList(CK_FUNCTION_LIST **list) {
  return fault_C_GetFunctionList(list);
}
