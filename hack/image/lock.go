package main

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/piraeusctl/piraeusctl/internal/image/debian"
)

// archives are where the image's packages come from: Debian 12 with its
// stable updates and security updates, main only.
func archives() []debian.Archive {
	return []debian.Archive{
		{Name: "debian", URL: "http://deb.debian.org/debian", Suites: []string{"bookworm", "bookworm-updates"}},
		{Name: "debian-security", URL: "http://deb.debian.org/debian-security", Suites: []string{"bookworm-security"}},
	}
}

// httpClient is used for every download; Debian's mirrors are plain HTTP,
// integrity comes from the signed InRelease and the sha256 sums.
func httpClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Minute}
}

func runLock(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("lock", flag.ContinueOnError)
	packages := fs.String("packages", "hack/image/packages.txt", "package list (roots and exclusions)")
	lockFile := fs.String("lock", "hack/image/debian.lock", "lock file to write")
	platforms := fs.String("platforms", "amd64,arm64", "Debian architectures, comma-separated")
	keyring := fs.String("keyring", debian.DefaultKeyring, "keyring that verifies the archives' InRelease files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	req, err := debian.ReadRequestFile(*packages)
	if err != nil {
		return err
	}
	f := &debian.Fetcher{Client: httpClient(), Keyring: *keyring}
	start := time.Now()
	lock, err := f.ResolveLock(ctx, archives(), req, strings.Split(*platforms, ","))
	if err != nil {
		return err
	}
	if err := os.WriteFile(*lockFile, lock.Encode(), 0o644); err != nil {
		return err
	}
	for _, p := range lock.Platforms() {
		var size int64
		pkgs := lock.For(p)
		for _, l := range pkgs {
			size += l.Size
		}
		log.Info("locked", "platform", p, "packages", len(pkgs), "debBytes", size)
	}
	log.Info("wrote lock", "file", *lockFile, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
