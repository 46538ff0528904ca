// Package operator is the converge loop of piraeus-operator (`piraeusctl
// operator`): under leader election it watches the plan's inputs with
// informers and, debounced and at every resync, runs one pass: read the
// inputs as `plan --from-cluster` reads them, plan them with pipeline.Run,
// and converge the cluster with apply.Run under its own field manager,
// pruning the ApplySet with the CLI's keep rules. An unchanged plan costs no
// write; drift is put back (or, in report mode, only reported) with an Event
// saying which fields changed; a plan that does not validate is not applied
// at all. Each pass writes the conditions Piraeus users read: LinstorCluster
// Applied/Available/Configured, LinstorSatelliteConfiguration Applied,
// LinstorNodeConnection Configured and, per node, LinstorSatellite
// Applied/Available/Configured from what the controller and agents report.
package operator
