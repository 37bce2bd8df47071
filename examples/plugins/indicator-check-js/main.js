// Validate indicators in text evidence with the `validator` package (from the version's frozen layer).
// The Argus container contract: input in /argus/input.json, evidence in /argus/evidence/, the result
// written to /argus/output/output.json; progress as JSON lines on fd 3 when the platform provides it.
"use strict";
const fs = require("fs");
const path = require("path");
const validator = require("validator");

const EVIDENCE_DIR = "/argus/evidence";
const CANDIDATES = {
  email: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,24}/g,
  iban: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g,
  ip: /\b(?:\d{1,3}\.){3}\d{1,3}\b/g,
  btc: /\b(?:bc1[ac-hj-np-z02-9]{25,87}|[13][a-km-zA-HJ-NP-Z1-9]{25,34})\b/g,
};
const CHECKS = {
  email: (v) => validator.isEmail(v),
  iban: (v) => validator.isIBAN(v.replace(/ /g, "")),
  ip: (v) => validator.isIP(v, 4),
  btc: (v) => validator.isBtcAddress(v),
};

function progress(fraction, message) {
  try {
    fs.writeSync(3, JSON.stringify({ progress: fraction, message }) + "\n");
  } catch (error) {
    // no progress channel (e.g. an older platform): nothing to report to
  }
}

const input = JSON.parse(fs.readFileSync("/argus/input.json", "utf8"));
const maxPerType = input.max_per_type || 1000;
const names = fs.existsSync(EVIDENCE_DIR) ? fs.readdirSync(EVIDENCE_DIR).sort() : [];
const found = Object.fromEntries(Object.keys(CANDIDATES).map((type) => [type, new Set()]));
names.forEach((name, index) => {
  progress(index / Math.max(names.length, 1), `scanning evidence ${index + 1} of ${names.length}`);
  const text = fs.readFileSync(path.join(EVIDENCE_DIR, name), "utf8");
  for (const [type, pattern] of Object.entries(CANDIDATES)) {
    for (const match of text.matchAll(pattern)) {
      if (found[type].size < maxPerType && CHECKS[type](match[0])) found[type].add(match[0]);
    }
  }
});
progress(1, "done");
const indicators = Object.fromEntries(Object.entries(found).map(([type, values]) => [type, [...values].sort()]));
fs.writeFileSync(
  "/argus/output/output.json",
  JSON.stringify({ runtime: `node ${process.versions.node}`, evidence_items: names.length, indicators }),
);
console.log(`checked ${names.length} evidence item(s) with validator ${require("validator/package.json").version}`);
