"""The recipes check their token streams once, at the call: a mistake is named, not an IndexError deep in torch."""

from __future__ import annotations

import pytest
import torch

from tlnlp.models.gpt import GPT, GPTConfig
from tlnlp.models.lstm import LSTMConfig, LSTMLanguageModel
from tlnlp.recipes.bert import BertPretrainConfig, pretrain_bert
from tlnlp.recipes.gpt import LMTrainConfig, train_lm
from tlnlp.recipes.ulmfit import train_language_model


def test_train_lm_refuses_a_stream_the_model_cannot_read():
    model = GPT(GPTConfig(vocab_size=7, block_size=8, n_layer=1, n_head=1, n_embd=8))
    config = LMTrainConfig(max_iters=2, block_size=8, warmup_iters=1, eval_interval=1)
    with pytest.raises(ValueError, match=r"train_data holds token id 9, but the model's embedding has 7 rows.*vocab_size >= 10"):
        train_lm(model, torch.arange(200) % 10, None, config, progress=False, device="cpu")
    with pytest.raises(ValueError, match=r"val_data holds token id -1"):
        train_lm(model, torch.arange(200) % 7, torch.tensor([-1, 2, 3]), config, progress=False, device="cpu")
    with pytest.raises(ValueError, match="train_data has 5 tokens, fewer than one block of 8"):
        train_lm(model, torch.arange(5), None, config, progress=False, device="cpu")
    with pytest.raises(ValueError, match="must be a 1-D integer tensor.*torch.float32"):
        train_lm(model, torch.rand(100), None, config, progress=False, device="cpu")
    with pytest.raises(TypeError, match="train_data must be a 1-D torch tensor of token ids, got list"):
        train_lm(model, [1, 2, 3], None, config, progress=False, device="cpu")
    long = LMTrainConfig(max_iters=2, block_size=16, warmup_iters=1, eval_interval=1)
    with pytest.raises(ValueError, match="config.block_size=16 is longer than the model's block_size=8"):
        train_lm(model, torch.arange(200) % 7, None, long, progress=False, device="cpu")


def test_train_language_model_refuses_ids_beyond_the_vocabulary():
    lm = LSTMLanguageModel(LSTMConfig(vocab_size=20, emb_dim=8, hidden_dim=8))
    with pytest.raises(ValueError, match="data holds token id 24, but the model's embedding has 20 rows"):
        train_language_model(lm, torch.arange(300) % 25, steps=2, lr=1e-2, block_size=10, device="cpu")
    with pytest.raises(ValueError, match="heldout holds token id 29"):
        train_language_model(lm, torch.arange(300) % 20, steps=2, lr=1e-2, block_size=10,
                             heldout=torch.arange(100) % 30, device="cpu")


def test_pretrain_bert_refuses_ids_beyond_vocab_size_and_documents_nsp_cannot_pair():
    config = BertPretrainConfig(steps=2)
    docs = [[[5, 6, 7], [8, 9]], [[10, 11], [12, 60]]]
    with pytest.raises(ValueError, match="documents hold token id 60, but vocab_size is 50"):
        pretrain_bert(docs, None, config, vocab_size=50, device="cpu")
    with pytest.raises(ValueError, match="at least 2 documents.*got 1 documents"):
        pretrain_bert([[[5, 6], [7, 8]]], None, config, vocab_size=50, device="cpu")
