// Package upgrade holds the upgrade matrix (`make test-upgrade`): stores
// written by earlier builds of this repository — the end of each
// development round — are opened by the current build, value-log
// collection is forced, and every notification the earlier build left
// waiting must be delivered exactly once, with its dead letters, held
// notifications and trails intact. The earlier builds come from
// internal/oldbuild; the package has no code of its own, only the tests.
package upgrade
