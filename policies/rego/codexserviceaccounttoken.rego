# k8s-service-account-token at admission: no automounted API token unless the pod says why.
# Mirrors policies/k8s.py; Rego v1. The annotation key is a parameter (rollout_rules.contract).
package codexserviceaccounttoken

rule := "k8s-service-account-token"

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

key := input.parameters.annotation

# The pod's own annotation wins over the workload's (a Pod is its own workload).
reason := object.get(
	object.get(pod, ["metadata", "annotations"], {}),
	key,
	object.get(input.review.object, ["metadata", "annotations", key], null),
)

automounts if object.get(pod_spec, "automountServiceAccountToken", null) != false

given(r) if {
	is_string(r)
	trim_space(r) != ""
}

violation contains {"msg": msg, "details": {"rule": rule}} if {
	automounts
	reason == null
	msg := sprintf(
		"%s: the pod does not set automountServiceAccountToken: false and is not annotated %s with a reason",
		[rule, key],
	)
}

violation contains {"msg": sprintf("%s: annotation %s is present but gives no reason", [rule, key]), "details": {"rule": rule}} if {
	automounts
	reason != null
	not given(reason)
}
