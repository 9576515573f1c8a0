package clickhouse

import "strings"

// LegacyCallsDDL is the calls table as migration 1 created it before migration 2 added
// the search column, for the upgrade test.
func LegacyCallsDDL() string {
	return strings.Replace(tables[0].localDDL(), ", "+searchColumn, "", 1)
}

// LegacyStreamsDDL is the rtp_streams table as migration 1 created it before migration 3
// added the extra column, for the upgrade test.
func LegacyStreamsDDL() string {
	for _, t := range tables {
		if t.name == "rtp_streams" {
			return strings.Replace(t.localDDL(), ",\n"+streamExtraColumn, "", 1)
		}
	}
	return ""
}
