"""Fine-tuning: training sets from the customer's own data, LoRA adapters, their registry and serving."""
