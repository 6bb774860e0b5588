package router

import (
	"fmt"
	"testing"
)

// sysbenchMix is what oltp_read_write sends per transaction in text protocol, plus the
// statements connection pools and drivers add.
var sysbenchMix = []string{
	"SELECT c FROM sbtest1 WHERE id=5012",
	"SELECT c FROM sbtest3 WHERE id=4431",
	"SELECT c FROM sbtest1 WHERE id BETWEEN 4977 AND 5076",
	"SELECT SUM(k) FROM sbtest2 WHERE id BETWEEN 5037 AND 5136",
	"SELECT c FROM sbtest1 WHERE id BETWEEN 4992 AND 5091 ORDER BY c",
	"SELECT DISTINCT c FROM sbtest4 WHERE id BETWEEN 5017 AND 5116 ORDER BY c",
	"UPDATE sbtest1 SET k=k+1 WHERE id=5021",
	"UPDATE sbtest2 SET c='43225117512-17263480226-95364427395' WHERE id=4987",
	"DELETE FROM sbtest1 WHERE id=5003",
	"INSERT INTO sbtest1 (id, k, c, pad) VALUES (5003, 4993, '10213851443-68157396285', '22195207048-70116052123')",
	"BEGIN",
	"COMMIT",
	"SET autocommit=1",
	"SELECT @@session.transaction_isolation",
	"/* tailgate:replica,max_lag=2s */ SELECT c FROM sbtest1 WHERE id=77",
}

func BenchmarkClassifyCached(b *testing.B) {
	c := NewClassifier(1000)
	for _, sql := range sysbenchMix {
		c.Classify(sql)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.Classify(sysbenchMix[i%len(sysbenchMix)])
	}
}

func BenchmarkClassifyCachedParallel(b *testing.B) {
	c := NewClassifier(1000)
	for _, sql := range sysbenchMix {
		c.Classify(sql)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			c.Classify(sysbenchMix[i%len(sysbenchMix)])
			i++
		}
	})
}

// BenchmarkClassifyUncached parses every time: fresh texts (different ids), as a text-protocol
// workload with literals would send them.
func BenchmarkClassifyUncached(b *testing.B) {
	c := NewClassifier(0)
	texts := make([]string, 4096)
	for i := range texts {
		texts[i] = fmt.Sprintf("%s /* %d */", sysbenchMix[i%len(sysbenchMix)], i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.Classify(texts[i%len(texts)])
	}
}
