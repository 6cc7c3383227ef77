#!/usr/bin/python3
"""A small kustomize renderer for k8s/: enough of `kubectl kustomize` for the manifests here,
so that they can be checked where kubectl is not installed (CI has only Debian's packages).

Supported, exactly as kustomize does them: `resources` (files, and directories holding a
kustomization.yaml), `patches` with a `path` (strategic-merge patches: maps merge, lists of
maps with a `name` merge by name, new items first; other lists are replaced), `configMapGenerator` with
`literals`, and `generatorOptions.disableNameSuffixHash: true`. Any other field is an error, so
a manifest that uses more fails the test instead of being checked wrongly.
"""
import os

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "configMapGenerator",
             "generatorOptions"}


def _merge(base, patch):
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    if (isinstance(base, list) and isinstance(patch, list)
            and all(isinstance(x, dict) and "name" in x for x in base + patch)):
        out = [dict(x) for x in base]
        new = []
        for item in patch:
            for i, existing in enumerate(out):
                if existing["name"] == item["name"]:
                    out[i] = _merge(existing, item)
                    break
            else:
                new.append(item)
        return new + out  # kustomize puts a patch's new items first
    return patch


def _key(doc):
    return (doc.get("apiVersion"), doc["kind"], doc["metadata"]["name"])


def render(directory):
    """The resources of the kustomization in `directory`, as a list of dicts."""
    with open(os.path.join(directory, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    unknown = set(k) - SUPPORTED
    if unknown:
        raise ValueError(f"{directory}: unsupported kustomization fields {sorted(unknown)}")
    docs = []
    for resource in k.get("resources", []):
        path = os.path.join(directory, resource)
        if os.path.isdir(path):
            docs.extend(render(path))
        else:
            with open(path) as f:
                docs.extend(d for d in yaml.safe_load_all(f) if d)
    options = k.get("generatorOptions", {})
    if set(options) - {"disableNameSuffixHash"} or (
            k.get("configMapGenerator") and options.get("disableNameSuffixHash") is not True):
        raise ValueError(f"{directory}: only generators with disableNameSuffixHash: true")
    for gen in k.get("configMapGenerator", []):
        if set(gen) - {"name", "literals"}:
            raise ValueError(f"{directory}: unsupported configMapGenerator fields")
        data = dict(item.split("=", 1) for item in gen.get("literals", []))
        docs.append({"apiVersion": "v1", "kind": "ConfigMap",
                     "metadata": {"name": gen["name"]}, "data": data})
    for patch in k.get("patches", []):
        if set(patch) != {"path"}:
            raise ValueError(f"{directory}: only patches with a path are supported")
        with open(os.path.join(directory, patch["path"])) as f:
            p = yaml.safe_load(f)
        targets = [i for i, d in enumerate(docs) if _key(d) == _key(p)]
        if len(targets) != 1:
            raise ValueError(f"{directory}: patch {patch['path']} matches {len(targets)} resources")
        docs[targets[0]] = _merge(docs[targets[0]], p)
    return docs
