package main

import (
	"log/slog"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
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

// controllerRuntimeLogger is logger, also given to controller-runtime (the
// components built on it log through it).
func (f *logFlags) controllerRuntimeLogger(cmd *cobra.Command) *slog.Logger {
	logger := f.logger(cmd)
	ctrllog.SetLogger(logr.FromSlogHandler(logger.Handler()))
	return logger
}
