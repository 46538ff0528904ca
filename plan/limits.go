package plan

// Input limits. Whatever a file holds, reading and loading it stays within
// them, so a careless or hostile input is refused at once with the limit
// named instead of hanging or exhausting memory. The README lists them.
const (
	// MaxInputBytes bounds one input: a file, stdin or a plan file.
	MaxInputBytes = 64 << 20
	// MaxDocuments bounds the YAML documents of one input (a List counts once).
	MaxDocuments = 10000
	// MaxNestingDepth bounds how deep maps and lists nest in one document.
	MaxNestingDepth = 128
	// MaxAliasExpansion bounds how many values YAML aliases (*name) may add
	// to one document beyond what is written; an alias bomb needs millions.
	MaxAliasExpansion = 100000
)
