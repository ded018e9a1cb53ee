# Source this before `npm ci` on Debian-like machines with Node's headers installed system-wide
# (/usr/include/node): native addons that compile (better-sqlite3 when its prebuilt download is
# unreachable, pkcs11js always) then build with node-gyp against those headers instead of
# downloading a header tarball. Packages that ship prebuilt binaries inside their npm tarball
# (node-hid, @node-rs/*, esbuild) keep using them. Elsewhere this changes nothing, so
# contributors on other systems keep npm's defaults.
if [ -f /usr/include/node/node_api.h ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr
fi
