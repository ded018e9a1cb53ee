# Source this before `npm ci` on Debian-like machines with Node's headers installed system-wide
# (/usr/include/node): native addons (better-sqlite3, later pkcs11js and node-hid) then build
# with node-gyp against those headers, and no prebuilt binary or header tarball is downloaded.
# Elsewhere it changes nothing, so contributors on other systems keep npm's defaults.
if [ -f /usr/include/node/node_api.h ] && [ -z "${npm_config_nodedir:-}" ]; then
  export npm_config_nodedir=/usr
fi
if [ -f /usr/include/node/node_api.h ] && [ -z "${npm_config_build_from_source:-}" ]; then
  export npm_config_build_from_source=true
fi
