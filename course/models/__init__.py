"""One module per model family: cnn (lesson 01), dcgan (02), vae (03), cyclegan (04)."""
