package operator

import (
	"fmt"
	"log/slog"
	"time"

	"k8s.io/client-go/rest"

	"github.com/piraeusctl/piraeusctl/apply"
	"github.com/piraeusctl/piraeusctl/pipeline"
)

// FieldManager names the loop's writes, apart from `piraeusctl apply`
// (apply.FieldManager) and GitOps tools (argocd-controller, kustomize-controller).
const FieldManager = "piraeus-operator"

// DriftMode says what a pass does with a cluster that differs from the plan.
type DriftMode string

const (
	// DriftCorrect applies the plan: drift is put back.
	DriftCorrect DriftMode = "correct"
	// DriftReport never writes a managed object: drift is found with a
	// server-side dry run and reported in status and Events, for teams whose
	// only writer must be git.
	DriftReport DriftMode = "report"
)

// Validate reports an unknown mode.
func (m DriftMode) Validate() error {
	switch m {
	case DriftCorrect, DriftReport:
		return nil
	}
	return fmt.Errorf("unknown drift mode %q: use correct or report", string(m))
}

// Options configure a Loop.
type Options struct {
	// Config reaches the API server; the loop's reads and writes go through it.
	Config *rest.Config
	// Namespace holds the datastore's objects and the ApplySet parent.
	Namespace string
	// Kinds are the inputs, as `plan --from-cluster` reads them (default InputKinds).
	Kinds []apply.ClusterKind
	// Keep are the prune keep rules (default KeepRules, as `apply --prune`).
	Keep []apply.KeepRule
	// Pipeline configures planning (render and build options); each pass
	// adds the cluster's inputs as Sources.
	Pipeline pipeline.Options
	// ApplySetName is the ApplySet parent (default: apply's, so the CLI's
	// `apply --prune` and the loop share one inventory).
	ApplySetName string
	// Drift says whether drift is corrected or only reported.
	Drift DriftMode
	// Debounce is the quiet time after an input change before a pass.
	Debounce time.Duration
	// Resync is the time between passes when nothing changes.
	Resync time.Duration
	// RetryAfter is the wait after a pass that failed to apply.
	RetryAfter time.Duration
	// FieldManager names the writes (default FieldManager).
	FieldManager string
	// Logger receives the loop's structured logs.
	Logger *slog.Logger
	// OnPass, when set, is called after every pass (tests, benchmarks).
	OnPass func(Outcome)
}

// DefaultOptions are the loop's defaults.
func DefaultOptions() Options {
	return Options{
		Namespace:    "piraeus-datastore",
		Kinds:        InputKinds,
		Keep:         KeepRules(),
		Drift:        DriftCorrect,
		Debounce:     time.Second,
		Resync:       5 * time.Minute,
		RetryAfter:   10 * time.Second,
		FieldManager: FieldManager,
		ApplySetName: apply.DefaultOptions().ApplySetName,
	}
}

func (o Options) withDefaults() (Options, error) {
	d := DefaultOptions()
	if o.Config == nil {
		return o, fmt.Errorf("operator: no API server configuration")
	}
	if o.Namespace == "" {
		o.Namespace = d.Namespace
	}
	if o.Kinds == nil {
		o.Kinds = d.Kinds
	}
	if o.Keep == nil {
		o.Keep = d.Keep
	}
	if o.Drift == "" {
		o.Drift = d.Drift
	}
	if err := o.Drift.Validate(); err != nil {
		return o, err
	}
	if o.Debounce <= 0 {
		o.Debounce = d.Debounce
	}
	if o.Resync <= 0 {
		o.Resync = d.Resync
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = d.RetryAfter
	}
	if o.FieldManager == "" {
		o.FieldManager = d.FieldManager
	}
	if o.ApplySetName == "" {
		o.ApplySetName = d.ApplySetName
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
