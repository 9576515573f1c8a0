package clickhouse

import "strings"

// LegacyCallsDDL is the calls table as migration 1 created it before migration 2 added
// the search column, for the upgrade test.
func LegacyCallsDDL() string {
	return strings.Replace(tables[0].localDDL(), ", "+searchColumn, "", 1)
}
