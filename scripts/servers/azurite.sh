# Azurite (the Azure Storage emulator), blob service only, from npm.
AZURITE_VERSION=3.37.0
AZURITE_ACCOUNT=devstoreaccount1
# The emulator's well-known development key (published in Microsoft's docs; not a secret).
AZURITE_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
AZURITE_CONTAINER=trunks-test

install() {
  local dir="$TRUNKS_CACHE/azurite-$AZURITE_VERSION"
  [ -x "$dir/node_modules/.bin/azurite-blob" ] && return 0
  command -v node >/dev/null || { apt-get update && apt-get install -y nodejs npm; }
  rm -rf "$dir.tmp"
  npm install --silent --no-audit --no-fund --prefix "$dir.tmp" "azurite@$AZURITE_VERSION" >&2
  rm -rf "$dir"
  mv "$dir.tmp" "$dir"
}

start() {
  local dir=$1 port=$2 endpoint
  endpoint="http://127.0.0.1:$port/$AZURITE_ACCOUNT"
  mkdir -p "$dir/data"
  run_bg "$dir" "$TRUNKS_CACHE/azurite-$AZURITE_VERSION/node_modules/.bin/azurite-blob" \
    --blobHost 127.0.0.1 --blobPort "$port" --location "$dir/data" \
    --skipApiVersionCheck --loose --disableProductStyleUrl --disableTelemetry
  wait_port "$port" 60 || return 1
  # Create the test container with a SharedKey-signed request (node is there for Azurite).
  AZ_ENDPOINT=$endpoint AZ_ACCOUNT=$AZURITE_ACCOUNT AZ_KEY=$AZURITE_KEY AZ_CONTAINER=$AZURITE_CONTAINER \
    node -e '
const crypto = require("node:crypto");
const { AZ_ENDPOINT, AZ_ACCOUNT, AZ_KEY, AZ_CONTAINER } = process.env;
const date = new Date().toUTCString();
const version = "2021-12-02";
const toSign = ["PUT", "", "", "", "", "", "", "", "", "", "", "",
  `x-ms-date:${date}\nx-ms-version:${version}`,
  `/${AZ_ACCOUNT}/${AZ_ACCOUNT}/${AZ_CONTAINER}\nrestype:container`].join("\n");
const sig = crypto.createHmac("sha256", Buffer.from(AZ_KEY, "base64")).update(toSign).digest("base64");
fetch(`${AZ_ENDPOINT}/${AZ_CONTAINER}?restype=container`, {
  method: "PUT",
  headers: { "x-ms-date": date, "x-ms-version": version, authorization: `SharedKey ${AZ_ACCOUNT}:${sig}` },
}).then(async (r) => {
  if (r.status !== 201 && r.status !== 409) {
    console.error(`azurite: creating container: ${r.status} ${await r.text()}`);
    process.exit(1);
  }
}, (e) => { console.error(`azurite: ${e}`); process.exit(1); });
' || return 1
  cat >"$dir/env" <<ENV
TRUNKS_TEST_AZURITE_ENDPOINT=$endpoint
TRUNKS_TEST_AZURITE_ACCOUNT=$AZURITE_ACCOUNT
TRUNKS_TEST_AZURITE_KEY=$AZURITE_KEY
TRUNKS_TEST_AZURITE_CONTAINER=$AZURITE_CONTAINER
TRUNKS_TEST_AZURITE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=$AZURITE_ACCOUNT;AccountKey=$AZURITE_KEY;BlobEndpoint=$endpoint;"
ENV
}
