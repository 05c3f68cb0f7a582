#!/usr/bin/env node
// Validates Kubernetes objects against the API's OpenAPI schemas (npm kubernetes-models 4.5.1,
// which knows sidecar init containers). Types, required fields and enums are checked; the schemas
// allow unknown fields, so check_k8s.py checks the fields that matter itself. Reads a JSON array
// of objects on stdin; prints one line per object and exits 1 when any is invalid. Objects that are not Kubernetes API kinds (kustomize's) are skipped.
"use strict";

function modelFor(apiVersion, kind) {
  try {
    return require(`kubernetes-models/${apiVersion}`)[kind];
  } catch (e) {
    return undefined;
  }
}

const objects = JSON.parse(require("fs").readFileSync(0, "utf8"));
let failed = false;
for (const object of objects) {
  const name = `${object.kind}/${object.metadata ? object.metadata.name : "?"}`;
  const Model = modelFor(object.apiVersion, object.kind);
  if (!Model) {
    console.log(`skipped ${name} (${object.apiVersion} is not a Kubernetes API group)`);
    continue;
  }
  try {
    new Model(object).validate();
    console.log(`valid ${name}`);
  } catch (e) {
    failed = true;
    console.log(`INVALID ${name}: ${e.message}`);
  }
}
process.exit(failed ? 1 : 0);
