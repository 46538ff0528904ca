package debian

import "embed"

// Sources are this package's Go files: the image builder's layer cache key
// covers the code that unpacks the packages.
//
//go:embed *.go
var Sources embed.FS
