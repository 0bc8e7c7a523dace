package discovery

import (
	"go.uber.org/zap"

	"github.com/pilotlight/pilotlight/translate/model"
)

// LogNewProblems logs each problem of after that was not in before, so a
// source logs a problem once when it appears, not on every rebuild:
// errors (rejected objects) at error level, warnings at warn.
func LogNewProblems(log *zap.Logger, before, after []model.Problem) {
	seen := make(map[model.Problem]struct{}, len(before))
	for _, p := range before {
		seen[p] = struct{}{}
	}
	for _, p := range after {
		if _, ok := seen[p]; ok {
			continue
		}
		if p.Warning {
			log.Warn("config problem", zap.Stringer("problem", p))
		} else {
			log.Error("config problem", zap.Stringer("problem", p))
		}
	}
}
