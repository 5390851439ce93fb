//! `bwchain completions`: shell completion scripts.

/// Print a completion script for your shell.
///
/// bash: `bwchain completions bash > ~/.local/share/bash-completion/completions/bwchain`;
/// zsh: `bwchain completions zsh > ~/.zfunc/_bwchain` (with ~/.zfunc in
/// fpath); fish: `bwchain completions fish > ~/.config/fish/completions/bwchain.fish`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

pub fn run(args: CompletionsArgs, command: &mut clap::Command) -> anyhow::Result<()> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, command, "bwchain", &mut std::io::stdout());
    Ok(())
}
