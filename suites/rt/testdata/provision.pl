#!/usr/bin/perl
# Provisions a fresh RT for the suite: queues, ticket custom fields
# (applied to every queue), a bot user with the rights triage needs and a
# REST 2 auth token, which it prints on stdout. RT 5.0's REST 2 can do
# neither rights nor tokens; RT's Perl API can.
# Usage: provision.pl QUEUE... -- FIELD...
use strict;
use warnings;
use RT;
RT::LoadConfig();
RT::Init();

my (@queues, @fields);
my $into = \@queues;
for (@ARGV) {
    if ($_ eq '--') { $into = \@fields; next }
    push @$into, $_;
}
my $system = RT->SystemUser;

for my $name (@queues) {
    my $q = RT::Queue->new($system);
    $q->Load($name);
    next if $q->id;
    my ($ok, $msg) = $q->Create(Name => $name);
    die "queue $name: $msg\n" unless $ok;
}
for my $name (@fields) {
    my $cf = RT::CustomField->new($system);
    my ($ok, $msg);
    $cf->Load($name);
    next if $cf->id;
    ($ok, $msg) = $cf->Create(Name => $name, Type => 'FreeformSingle', LookupType => 'RT::Queue-RT::Ticket');
    die "custom field $name: $msg\n" unless $ok;
    ($ok, $msg) = $cf->AddToObject(RT::Queue->new($system));    # global
    die "custom field $name global: $msg\n" unless $ok;
}
my $bot = RT::User->new($system);
$bot->Load("triage-bot");
my ($ok, $msg) = $bot->id ? (1, "") : $bot->Create(Name => 'triage-bot', EmailAddress => 'triage-bot@triage.test', Privileged => 1);
die "bot: $msg\n" unless $ok;
for my $right (qw(SeeQueue ShowTicket CreateTicket ReplyToTicket CommentOnTicket ModifyTicket
                  SeeCustomField ModifyCustomField ShowTicketComments Watch WatchAsAdminCc ManageAuthTokens)) {
    ($ok, $msg) = $bot->PrincipalObj->GrantRight(Right => $right, Object => RT->System);
    die "grant $right: $msg\n" unless $ok || $msg =~ /already has/;
}
# Users RT creates for requesters must be able to hold the role.
my $everyone = RT::Group->new($system);
$everyone->LoadSystemInternalGroup('Everyone');
$everyone->PrincipalObj->GrantRight(Right => 'CreateTicket', Object => RT->System);
my $token = RT::AuthToken->new(RT::CurrentUser->new($bot));
my ($id, $tmsg, $string) = $token->Create(Owner => $bot->id, Description => 'triage');
die "token: $tmsg\n" unless $id;
print "$string\n";
