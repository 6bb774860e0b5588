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

// sysbenchTextMix is sysbench's oltp_read_write in text protocol (--db-ps-mode=disable):
// literals inline, so nearly every text is new. Each statement gets fresh values.
func sysbenchTextMix(n int) []string {
	texts := make([]string, n)
	for i := range texts {
		id, k := 1+i*7919%100000, 1+i*104729%100000
		switch i % 10 {
		case 0, 1, 2, 3:
			texts[i] = fmt.Sprintf("SELECT c FROM sbtest%d WHERE id=%d", 1+i%4, id)
		case 4:
			texts[i] = fmt.Sprintf("SELECT c FROM sbtest%d WHERE id BETWEEN %d AND %d", 1+i%4, id, id+99)
		case 5:
			texts[i] = fmt.Sprintf("SELECT SUM(k) FROM sbtest%d WHERE id BETWEEN %d AND %d", 1+i%4, id, id+99)
		case 6:
			texts[i] = fmt.Sprintf("SELECT DISTINCT c FROM sbtest%d WHERE id BETWEEN %d AND %d ORDER BY c", 1+i%4, id, id+99)
		case 7:
			texts[i] = fmt.Sprintf("UPDATE sbtest%d SET k=k+1 WHERE id=%d", 1+i%4, id)
		case 8:
			texts[i] = fmt.Sprintf("UPDATE sbtest%d SET c='%011d-%011d-%011d' WHERE id=%d", 1+i%4, k, id, k+id, id)
		case 9:
			texts[i] = fmt.Sprintf("INSERT INTO sbtest%d (id, k, c, pad) VALUES (%d, %d, '%011d-%011d-%011d-%011d', '%011d-%011d')",
				1+i%4, id, k, k, id, k+1, id+1, id+2, k+2)
		}
	}
	return texts
}

// BenchmarkClassifyShapeHit: every text is new to the exact-text cache and its shape is known.
func BenchmarkClassifyShapeHit(b *testing.B) {
	c := NewClassifier(1000)
	warm, texts := sysbenchTextMix(40), sysbenchTextMix(4096)[40:]
	for _, sql := range warm {
		c.Classify(sql)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		c.Classify(texts[i%len(texts)])
	}
}
