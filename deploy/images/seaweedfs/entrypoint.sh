#!/bin/sh
# One `weed server`: master, volume server, filer and the S3 gateway on 8333, all data under /data.
# S3_ACCESS_KEY / S3_SECRET_KEY are the only identity the gateway accepts; a bucket is created on its
# first use (-s3.autoCreateBucket), so ARGUS_STORAGE_URL's bucket needs no separate step.
set -eu
: "${S3_ACCESS_KEY:?set S3_ACCESS_KEY}" "${S3_SECRET_KEY:?set S3_SECRET_KEY}"
config="$(mktemp)"
cat > "$config" <<JSON
{"identities": [{"name": "argus", "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
JSON
exec weed server -dir=/data -ip=127.0.0.1 -ip.bind=0.0.0.0 -master.volumeSizeLimitMB=1024 \
    -filer -s3 -s3.port=8333 -s3.config="$config" -s3.autoCreateBucket
