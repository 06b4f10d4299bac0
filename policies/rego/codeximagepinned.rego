# k8s-image-pinned at admission: images pinned by digest, from an allowed registry.
# Mirrors policies/k8s.py (image_repository, registry_allowed); Rego v1.
package codeximagepinned

rule := "k8s-image-pinned"

template_paths := {
	"Deployment": ["spec", "template"],
	"StatefulSet": ["spec", "template"],
	"DaemonSet": ["spec", "template"],
	"ReplicaSet": ["spec", "template"],
	"ReplicationController": ["spec", "template"],
	"Job": ["spec", "template"],
	"CronJob": ["spec", "jobTemplate", "spec", "template"],
}

pod := input.review.object if input.review.object.kind == "Pod"

pod := object.get(input.review.object, template_paths[input.review.object.kind], {})

pod_spec := object.get(pod, "spec", {})

containers contains c if {
	some field in ["initContainers", "containers", "ephemeralContainers"]
	some c in object.get(pod_spec, field, [])
}

who(c) := sprintf("container '%s'", [c.name]) if is_string(c.name)

who(c) := "unnamed container" if not is_string(object.get(c, "name", null))

# -- image references ------------------------------------------------------------------------------

# The repository without tag or digest.
bare(image) := name if {
	name_and_tag := split(image, "@")[0]
	parts := split(name_and_tag, "/")
	last := parts[count(parts) - 1]
	name := concat("/", array.concat(array.slice(parts, 0, count(parts) - 1), [split(last, ":")[0]]))
}

explicit_registry(name) if {
	contains(name, "/")
	first := split(name, "/")[0]
	registry_like(first)
}

registry_like(host) if contains(host, ".")

registry_like(host) if contains(host, ":")

registry_like("localhost")

# The image's repository with its registry host made explicit (Docker Hub otherwise).
repository(image) := bare(image) if explicit_registry(bare(image))

repository(image) := concat("", ["docker.io/", bare(image)]) if {
	not explicit_registry(bare(image))
	contains(bare(image), "/")
}

repository(image) := concat("", ["docker.io/library/", bare(image)]) if {
	not explicit_registry(bare(image))
	not contains(bare(image), "/")
}

allowed(image) if {
	some pattern in input.parameters.allowedRegistries
	glob.match(trim_right(pattern, "/"), null, repository(image))
}

allowed(image) if {
	some pattern in input.parameters.allowedRegistries
	glob.match(concat("", [trim_right(pattern, "/"), "/*"]), null, repository(image))
}

problems contains sprintf("%s has no image", [who(c)]) if {
	some c in containers
	not non_empty_string(object.get(c, "image", null))
}

non_empty_string(s) if {
	is_string(s)
	s != ""
}

problems contains sprintf("%s image '%s' is not pinned by digest (@sha256:...)", [who(c), c.image]) if {
	some c in containers
	non_empty_string(c.image)
	not regex.match(`@sha256:[0-9a-f]{64}$`, c.image)
}

# rego-cpp (regopy 1.5.2) quotes a concat() result given to sprintf's %s, so messages that
# join a list are built with concat() alone; Gatekeeper's OPA reads them the same.
problems contains msg if {
	some c in containers
	non_empty_string(c.image)
	not allowed(c.image)
	registries := concat(", ", input.parameters.allowedRegistries)
	msg := concat("", [who(c), " image '", c.image, "' is not from an approved registry (", registries, ")"])
}

violation contains {"msg": concat(": ", [rule, problem]), "details": {"rule": rule}} if {
	some problem in problems
}
