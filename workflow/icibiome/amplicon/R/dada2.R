# DADA2 denoising for icibiome (called by icibiome.amplicon.dada2.run_dada2; not meant to be run by hand).
#
# Usage: Rscript --vanilla dada2.R manifest.tsv params.tsv out_dir log_file
#   manifest.tsv  columns sample, fq1, fq2 (fq2 empty for single-end), primer-trimmed reads
#   params.tsv    key<TAB>value: trunc_len_f, trunc_len_r, max_ee_f, max_ee_r, trunc_q, min_len,
#                 min_overlap, max_mismatch, pool (false|true|pseudo), chimera_method, seed, threads
# Writes into out_dir: asvs.fa (ASV1.. by decreasing total count), asv_table.tsv (asv_id x
# samples), tracking.tsv (sample, input, filtered, denoised, merged, non_chimeric).
#
# The steps are those of the DADA2 tutorial (https://benjjneb.github.io/dada2/tutorial.html;
# Callahan et al. 2016, Nat Methods 13:581): filterAndTrim -> learnErrors -> dada ->
# mergePairs -> makeSequenceTable -> removeBimeraDenovo.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4) stop("usage: dada2.R manifest.tsv params.tsv out_dir log_file")
log <- file(args[4], open = "at")
sink(log)
sink(log, type = "message")

suppressPackageStartupMessages(library(dada2))
message("dada2 ", packageVersion("dada2"), ", ", R.version.string)

man <- read.delim(args[1], colClasses = "character", na.strings = character(0))
kv <- read.delim(args[2], header = FALSE, colClasses = "character")
par <- setNames(kv[[2]], kv[[1]])
num <- function(k) as.numeric(par[[k]])
out_dir <- args[3]

threads <- as.integer(num("threads"))
mt <- if (threads > 1) threads else FALSE
pool <- switch(par[["pool"]], "true" = TRUE, "false" = FALSE, "pseudo" = "pseudo")
paired <- all(nzchar(man$fq2))
set.seed(num("seed"))

filt_dir <- file.path(out_dir, "filtered")
dir.create(filt_dir, showWarnings = FALSE)
filt_f <- file.path(filt_dir, paste0(man$sample, "_F.fastq.gz"))
filt_r <- file.path(filt_dir, paste0(man$sample, "_R.fastq.gz"))

if (paired) {
  ft <- filterAndTrim(man$fq1, filt_f, man$fq2, filt_r,
    truncLen = c(num("trunc_len_f"), num("trunc_len_r")),
    maxEE = c(num("max_ee_f"), num("max_ee_r")), truncQ = num("trunc_q"),
    minLen = num("min_len"), maxN = 0, rm.phix = TRUE, compress = TRUE, multithread = mt
  )
} else {
  ft <- filterAndTrim(man$fq1, filt_f,
    truncLen = num("trunc_len_f"), maxEE = num("max_ee_f"), truncQ = num("trunc_q"),
    minLen = num("min_len"), maxN = 0, rm.phix = TRUE, compress = TRUE, multithread = mt
  )
}
track <- data.frame(
  sample = man$sample, input = ft[, "reads.in"], filtered = ft[, "reads.out"],
  denoised = 0, merged = if (paired) 0 else NA, non_chimeric = 0
)
keep <- ft[, "reads.out"] > 0
samples <- man$sample[keep]
message(sum(keep), " of ", nrow(man), " samples have reads after filtering")

as_list <- function(x, cls) {
  if (inherits(x, cls)) x <- list(x)
  names(x) <- samples
  x
}
get_n <- function(x) sum(getUniques(x))

seqs <- character(0)
counts <- matrix(0L, nrow = 0, ncol = nrow(man), dimnames = list(NULL, man$sample))
if (length(samples) > 0) {
  err_f <- learnErrors(filt_f[keep], multithread = mt, verbose = 1)
  dada_f <- as_list(dada(filt_f[keep], err = err_f, pool = pool, multithread = mt), "dada")
  track$denoised[keep] <- sapply(dada_f, get_n)
  if (paired) {
    err_r <- learnErrors(filt_r[keep], multithread = mt, verbose = 1)
    dada_r <- as_list(dada(filt_r[keep], err = err_r, pool = pool, multithread = mt), "dada")
    merged <- mergePairs(dada_f, filt_f[keep], dada_r, filt_r[keep],
      minOverlap = num("min_overlap"), maxMismatch = num("max_mismatch"), verbose = TRUE
    )
    merged <- as_list(merged, "data.frame")
    track$merged[keep] <- sapply(merged, get_n)
    seqtab <- makeSequenceTable(merged)
  } else {
    seqtab <- makeSequenceTable(dada_f)
  }
  if (ncol(seqtab) > 0) {
    nochim <- removeBimeraDenovo(seqtab,
      method = par[["chimera_method"]], multithread = mt, verbose = TRUE
    )
  } else {
    nochim <- seqtab
  }
  message(ncol(nochim), " ASVs after chimera removal (", ncol(seqtab), " before)")
  track$non_chimeric[keep] <- rowSums(nochim)
  if (ncol(nochim) > 0) {
    ord <- order(-colSums(nochim), colnames(nochim))
    seqs <- colnames(nochim)[ord]
    counts <- matrix(0L, nrow = length(seqs), ncol = nrow(man), dimnames = list(NULL, man$sample))
    counts[, samples] <- t(nochim[samples, ord, drop = FALSE])
  }
}

ids <- if (length(seqs) > 0) paste0("ASV", seq_along(seqs)) else character(0)
writeLines(if (length(seqs) > 0) paste0(">", ids, "\n", seqs) else character(0),
  file.path(out_dir, "asvs.fa")
)
tab <- data.frame(asv_id = ids, counts, check.names = FALSE)
write.table(tab, file.path(out_dir, "asv_table.tsv"), sep = "\t", quote = FALSE, row.names = FALSE)
write.table(track, file.path(out_dir, "tracking.tsv"), sep = "\t", quote = FALSE, row.names = FALSE,
  na = "NA"
)
print(track)
message("done")
sink(type = "message")
sink()
