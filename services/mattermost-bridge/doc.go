// Package mattermostbridge is the AccessBridge service that holds the
// Mattermost bot token: it consumes teleport.requests.> and posts each
// access request to its Mattermost recipients (direct messages and team
// channels), replies in the thread for every review, and updates every post
// when the request is resolved or expires — effectively once, whatever the
// crash, redelivery or replica count. Its record of posts is the MATTERMOST
// stream (mattermost.posts.<req>).
package mattermostbridge
