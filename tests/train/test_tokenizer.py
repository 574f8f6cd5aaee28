from train.tokenizer import GPT2_VOCAB_SIZE, load_gpt2_tokenizer


def test_known_gpt2_ids():
    tok = load_gpt2_tokenizer()
    assert len(tok) == GPT2_VOCAB_SIZE == 50_257
    assert tok(" hot cold true false")["input_ids"] == [3024, 4692, 2081, 3991]
    assert tok("<|endoftext|>")["input_ids"] == [50256]


def test_round_trip_on_brown_like_text():
    tok = load_gpt2_tokenizer()
    text = "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election."
    assert tok.decode(tok(text)["input_ids"]) == text
