package main

import (
	"log/slog"

	"github.com/spf13/cobra"
)

// logFlags is --log-level of the long-running commands, which log
// structured lines (log/slog) to stderr.
type logFlags struct {
	level slog.Level
}

func (f *logFlags) register(cmd *cobra.Command, help string) {
	cmd.Flags().TextVar(&f.level, "log-level", slog.LevelInfo, "log level: "+help)
}

// logger writes to the command's stderr at the chosen level.
func (f *logFlags) logger(cmd *cobra.Command) *slog.Logger {
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: f.level}))
}
