package main

import (
	"fmt"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logOptions are the logging flags.
type logOptions struct {
	format string
	level  string
}

func (o *logOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.format, "log-format", "json", "log format: json (for log collectors) or console (for people)")
	f.StringVar(&o.level, "log-level", "info", "least severe level logged: debug, info, warn or error")
}

// build returns a logger that writes to w.
func (o *logOptions) build(w zapcore.WriteSyncer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(o.level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch o.format {
	case "json":
		enc = zapcore.NewJSONEncoder(cfg)
	case "console":
		cfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(cfg)
	default:
		return nil, fmt.Errorf("--log-format %q: want json or console", o.format)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(w), level), zap.ErrorOutput(w)), nil
}
