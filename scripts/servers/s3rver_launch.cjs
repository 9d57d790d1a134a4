// Starts s3rver 3.7.1 with one fix: its deleteObject removes a key's parent directories
// once they are empty, and a put into that directory racing it (mkdirp done, file not yet
// opened) fails to open its file on a stream with no 'error' listener, which kills the
// whole server. Two pushers probing one new trunk hit that window, and every later s3rver
// test then failed with ECONNREFUSED. Empty directories are invisible to s3rver's
// listing (it lists object files only), so keeping them changes nothing a client sees.
//   node s3rver_launch.cjs PACKAGE_DIR [s3rver args...]
"use strict";
const path = require("node:path");
const fs = require("node:fs/promises");

const pkg = path.resolve(process.argv[2]);
const FilesystemStore = require(path.join(pkg, "lib/stores/filesystem.js"));
FilesystemStore.prototype.deleteObject = async function (bucket, key) {
  await Promise.all(
    ["object", "object.md5", "metadata.json"].map((kind) =>
      fs.unlink(this.getResourcePath(bucket, key, kind)).catch((err) => {
        if (err.code !== "ENOENT") throw err;
      })
    ),
  );
};
const bin = path.join(pkg, "bin/s3rver.js");
process.argv = [process.argv[0], bin, ...process.argv.slice(3)];
require(bin);
