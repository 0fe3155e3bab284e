"""curate: bilingual biomedical instruction data from native corpora, built on Ray, for two-stage fine-tuning."""

__version__ = "0.1.0"
